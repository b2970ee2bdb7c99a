package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "sigs.k8s.io/yaml/goyaml.v3"
)

// LoadError says which file, line and object could not be loaded, and why.
type LoadError struct {
	File   string
	Line   int
	Object string // "Kind namespace/name", empty when unknown
	Reason string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Object != "" {
		b.WriteString(e.Object + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// LoadErrors is every error found while loading; loading is refused as a whole.
type LoadErrors []*LoadError

func (es LoadErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

var (
	yamlLineRE      = regexp.MustCompile(`line (\d+)`)
	yamlLeadingLine = regexp.MustCompile(`^line (\d+): `)
)

// yamlErrorLine splits a YAML parser message into its document-relative line
// (1 when it names none) and the rest. yaml.v3 prints parser errors ("did not
// find expected ...") with a 0-based line and scanner errors with a 1-based
// one; both come out 1-based here.
func yamlErrorLine(msg string) (int, string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	m := yamlLeadingLine.FindStringSubmatch(msg)
	if m == nil {
		return 1, msg
	}
	n, _ := strconv.Atoi(m[1])
	rest := msg[len(m[0]):]
	if strings.HasPrefix(rest, "did not find expected") {
		n++
	}
	if n < 1 {
		n = 1
	}
	return n, rest
}

// shiftYAMLError rewrites "line N" in a YAML parser message from
// document-relative to file-relative.
func shiftYAMLError(msg string, offset int) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
		return "line " + strconv.Itoa(n+offset)
	})
}

// firstLine is the document-relative line of the first content node.
func firstLine(n *yamlv3.Node) int {
	for n != nil && n.Kind == yamlv3.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Line == 0 {
		return 1
	}
	return n.Line
}

// findKeyLine returns the document-relative line of the mapping key at the
// dotted path (sequence indexes may be omitted: every element is searched), or
// of the last segment found anywhere; 0 if not found.
func findKeyLine(root *yamlv3.Node, path string) int {
	segs := strings.Split(path, ".")
	if l := walkPath(root, segs); l > 0 {
		return l
	}
	return findKeyAnywhere(root, segs[len(segs)-1])
}

func walkPath(n *yamlv3.Node, segs []string) int {
	if n == nil || len(segs) == 0 {
		return 0
	}
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			if l := walkPath(c, segs); l > 0 {
				return l
			}
		}
	case yamlv3.SequenceNode:
		for _, c := range n.Content {
			if l := walkPath(c, segs); l > 0 {
				return l
			}
		}
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != segs[0] {
				continue
			}
			if len(segs) == 1 {
				return n.Content[i].Line
			}
			return walkPath(n.Content[i+1], segs[1:])
		}
	}
	return 0
}

func findKeyAnywhere(n *yamlv3.Node, key string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yamlv3.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	for _, c := range n.Content {
		if l := findKeyAnywhere(c, key); l > 0 {
			return l
		}
	}
	return 0
}

var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// describeDecodeError turns a JSON decoding error into a reason and the dotted
// path of the offending field (for the line lookup).
func describeDecodeError(err error) (reason, field string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		f := typeErr.Field
		return fmt.Sprintf("%s: invalid value: expected %s, got %s", f, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value), f
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown field %q (check its spelling and indentation against the API reference)", m[1]), m[1]
	}
	return msg, ""
}

func jsonTypeName(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "integer"
	case goKind == "struct", goKind == "map":
		return "object"
	case goKind == "slice":
		return "list"
	}
	return goKind
}

// FieldError is a validation error tied to a field path like
// "spec.listeners[0].port".
type FieldError struct {
	Field  string
	Reason string
	// fullMessage: Reason already names the field (API server style).
	fullMessage bool
}

func (e *FieldError) Error() string {
	if e.fullMessage {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// fieldOf returns the dotted field path (indexes dropped) of a FieldError.
func fieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return indexRE.ReplaceAllString(fe.Field, "")
	}
	return ""
}
