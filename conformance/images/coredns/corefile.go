package main

import (
	"fmt"
	"strings"
	"unicode"
)

// A Corefile is a list of server blocks:
//
//	zone[:port] [zone[:port]...] {
//	    plugin [args...]
//	    plugin [args...] {
//	        option [args...]
//	    }
//	}
//
// with # comments to the end of the line and "double quoted" words. This
// is the subset of the Caddyfile syntax CoreDNS reads that the conformance
// suite's Corefiles use; snippets, imports and {$ENV} substitution are not
// supported and fail with a message that says so.

// token is one word of a Corefile.
type token struct {
	text   string
	line   int
	quoted bool
	// newline: a line break comes before this token.
	newline bool
}

// parseError is a Corefile error at a line, printed as file:line: reason.
type parseError struct {
	file   string
	line   int
	reason string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.reason) }

// serverBlock is one block as written, before its keys and plugins are
// interpreted.
type serverBlock struct {
	keys       []token
	directives []directive
	line       int
}

// directive is a plugin line with its arguments and optional block of
// option lines.
type directive struct {
	name    string
	args    []string
	options [][]string
	line    int
}

// tokenize splits a Corefile into words.
func tokenize(file, src string) ([]token, error) {
	var toks []token
	line, newline := 1, true
	rs := []rune(src)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == '\n':
			line++
			newline = true
			i++
		case unicode.IsSpace(r):
			i++
		case r == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '"':
			start := line
			var b strings.Builder
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' && i+1 < len(rs) && rs[i+1] == '"' {
					i++
				}
				if rs[i] == '\n' {
					line++
				}
				b.WriteRune(rs[i])
			}
			if i == len(rs) {
				return nil, &parseError{file, start, "quoted word not closed: add the closing \""}
			}
			i++
			toks = append(toks, token{text: b.String(), line: start, quoted: true, newline: newline})
			newline = false
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '"' {
				i++
			}
			toks = append(toks, token{text: string(rs[start:i]), line: line, newline: newline})
			newline = false
		}
	}
	return toks, nil
}

func (t token) is(s string) bool { return !t.quoted && t.text == s }

// parseCorefile reads the server blocks of src.
func parseCorefile(file, src string) ([]serverBlock, error) {
	toks, err := tokenize(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, toks: toks}
	var blocks []serverBlock
	for !p.done() {
		b, err := p.serverBlock()
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, &parseError{file, 1, "no server block: write at least one, e.g. \". {\\n    whoami\\n}\""}
	}
	return blocks, nil
}

type parser struct {
	file string
	toks []token
	pos  int
}

func (p *parser) done() bool  { return p.pos >= len(p.toks) }
func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) errorf(line int, format string, a ...any) error {
	return &parseError{p.file, line, fmt.Sprintf(format, a...)}
}

// lastLine is the line of the last token, for errors at the end of the file.
func (p *parser) lastLine() int {
	if len(p.toks) == 0 {
		return 1
	}
	return p.toks[len(p.toks)-1].line
}

func (p *parser) serverBlock() (serverBlock, error) {
	b := serverBlock{line: p.peek().line}
	// Keys: words up to "{", on one line or continued by a trailing comma.
	for {
		if p.done() {
			return b, p.errorf(p.lastLine(), "server block keys without a block: add \"{ ... }\" with the plugins after them")
		}
		t := p.peek()
		if t.is("{") {
			p.pos++
			break
		}
		if t.is("}") {
			return b, p.errorf(t.line, "unexpected \"}\": no block is open here")
		}
		if len(b.keys) > 0 && t.newline && !strings.HasSuffix(b.keys[len(b.keys)-1].text, ",") {
			return b, p.errorf(b.line, "server block keys %s are not followed by \"{\" on the same line: this stand-in for CoreDNS needs every server block in braces", keyList(b.keys))
		}
		p.pos++
		for _, k := range strings.Split(t.text, ",") {
			if k != "" {
				b.keys = append(b.keys, token{text: k, line: t.line, quoted: t.quoted})
			}
		}
	}
	if len(b.keys) == 0 {
		return b, p.errorf(b.line, "server block without a zone: write one before \"{\", e.g. \".:53 {\"")
	}
	for {
		if p.done() {
			return b, p.errorf(p.lastLine(), "server block opened at line %d is not closed: add \"}\"", b.line)
		}
		t := p.peek()
		if t.is("}") {
			p.pos++
			return b, nil
		}
		if t.is("{") {
			return b, p.errorf(t.line, "unexpected \"{\": a block must follow a plugin name on its line")
		}
		d, err := p.directive()
		if err != nil {
			return b, err
		}
		b.directives = append(b.directives, d)
	}
}

// directive reads a plugin line and its option block, if any.
func (p *parser) directive() (directive, error) {
	t := p.peek()
	p.pos++
	d := directive{name: t.text, line: t.line}
	for !p.done() && !p.peek().newline {
		a := p.peek()
		if a.is("}") {
			return d, nil // "plugin args }" closes the server block on the same line
		}
		p.pos++
		if a.is("{") {
			return d, p.options(&d, a.line)
		}
		d.args = append(d.args, a.text)
	}
	return d, nil
}

// options reads the lines of a plugin's block up to its "}".
func (p *parser) options(d *directive, open int) error {
	for {
		if p.done() {
			return p.errorf(p.lastLine(), "block of %s opened at line %d is not closed: add \"}\"", d.name, open)
		}
		t := p.peek()
		p.pos++
		if t.is("}") {
			return nil
		}
		if t.is("{") {
			return p.errorf(t.line, "unexpected \"{\" inside the block of %s", d.name)
		}
		opt := []string{t.text}
		for !p.done() && !p.peek().newline && !p.peek().is("}") {
			if p.peek().is("{") {
				return p.errorf(p.peek().line, "unexpected \"{\" inside the block of %s", d.name)
			}
			opt = append(opt, p.peek().text)
			p.pos++
		}
		d.options = append(d.options, opt)
	}
}

func keyList(keys []token) string {
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%q", k.text))
	}
	return strings.Join(s, " ")
}
