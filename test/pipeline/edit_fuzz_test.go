package pipeline

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// FuzzEditedConfigurationCompiles checks what FuzzAcceptedConfigurationCompiles
// checks, on configurations made by editing a seed's YAML tree rather than
// its bytes: a flipped byte mostly makes YAML the loader refuses, an edited
// tree mostly makes objects the schema accepts with values no golden input
// combines (a port another listener has, a hostname in a path, a Gateway's
// address in a route, a backend's weight of zero). which picks the seed;
// every three bytes of edits are one edit: what (replace a value with one
// of a list of the values that matter to a gateway, copy or swap two
// values, delete an entry, duplicate a list item), where, and with what.
func FuzzEditedConfigurationCompiles(f *testing.F) {
	var files [][]byte
	for _, in := range seeds(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, data)
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0, 7, 3, 1, 9, 2})
	f.Add(uint8(2), []byte{2, 5, 0, 3, 4, 0})
	f.Add(uint8(3), []byte{4, 11, 20, 0, 30, 9})
	f.Fuzz(func(t *testing.T, which uint8, edits []byte) {
		docs := decodeDocuments(files[int(which)%len(files)])
		if len(docs) == 0 {
			return
		}
		for i := 0; i+3 <= len(edits); i += 3 {
			applyEdit(docs, edits[i], edits[i+1], edits[i+2])
		}
		var out bytes.Buffer
		for i, d := range docs {
			if i > 0 {
				out.WriteString("---\n")
			}
			b, err := yaml.Marshal(d)
			if err != nil {
				return
			}
			out.Write(b)
		}
		checkAccepted(t, out.Bytes())
	})
}

func decodeDocuments(data []byte) []*yaml.Node {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if !errors.Is(err, io.EOF) {
				return nil
			}
			return docs
		}
		docs = append(docs, &n)
	}
}

// place is a node and where it sits: its parent collection and index.
type place struct {
	n, parent *yaml.Node
	i         int
}

// places lists every node under the documents in document order.
func places(docs []*yaml.Node) []place {
	var out []place
	var walk func(parent *yaml.Node)
	walk = func(parent *yaml.Node) {
		for i, c := range parent.Content {
			out = append(out, place{c, parent, i})
			walk(c)
		}
	}
	for _, d := range docs {
		walk(d)
	}
	return out
}

// values are what a gateway's configuration turns on: ports, addresses,
// hostnames and their wildcards, paths, protocols, TLS modes, match types,
// kinds and the boundaries of numbers.
var values = []struct{ tag, v string }{
	{"!!int", "0"}, {"!!int", "1"}, {"!!int", "80"}, {"!!int", "443"}, {"!!int", "8080"},
	{"!!int", "65535"}, {"!!int", "-1"}, {"!!int", "1000000"},
	{"!!bool", "true"}, {"!!bool", "false"},
	{"!!str", ""}, {"!!str", "*"}, {"!!str", "*.example.com"}, {"!!str", "example.com"},
	{"!!str", "a.example.com"}, {"!!str", "/"}, {"!!str", "/a"}, {"!!str", "/a/"}, {"!!str", "//"},
	{"!!str", "/a/../b"}, {"!!str", "^/a.*"}, {"!!str", "["}, {"!!str", "x"},
	{"!!str", "HTTP"}, {"!!str", "HTTPS"}, {"!!str", "TLS"}, {"!!str", "TCP"}, {"!!str", "UDP"},
	{"!!str", "Terminate"}, {"!!str", "Passthrough"}, {"!!str", "PathPrefix"}, {"!!str", "Exact"},
	{"!!str", "RegularExpression"}, {"!!str", "ReplaceFullPath"}, {"!!str", "ReplacePrefixMatch"},
	{"!!str", "default"}, {"!!str", "other"}, {"!!str", "Service"}, {"!!str", "ServiceEntry"},
	{"!!str", "Gateway"}, {"!!str", "ListenerSet"}, {"!!str", "Secret"}, {"!!str", "All"},
	{"!!str", "Same"}, {"!!str", "Selector"}, {"!!str", "127.0.0.1"}, {"!!str", "0.0.0.0"},
	{"!!str", "::"}, {"!!str", "::1"}, {"!!str", "10.0.0.1"}, {"!!str", "IPAddress"},
	{"!!str", "Hostname"}, {"!!str", "GET"}, {"!!str", "https"}, {"!!str", "h2c"},
	{"!!str", "kubernetes.io/h2c"}, {"!!str", "x-h"}, {"!!str", "edgeway"},
}

// applyEdit makes one edit; one that does not apply where it lands is
// skipped.
func applyEdit(docs []*yaml.Node, op, where, with byte) {
	ps := places(docs)
	if len(ps) == 0 {
		return
	}
	p := ps[int(where)%len(ps)]
	other := ps[int(with)%len(ps)]
	switch op % 5 {
	case 0: // a value from the list
		if p.n.Kind == yaml.ScalarNode && !isKey(p) {
			v := values[int(with)%len(values)]
			p.n.Tag, p.n.Value, p.n.Style = v.tag, v.v, 0
		}
	case 1: // another scalar's value
		if p.n.Kind == yaml.ScalarNode && other.n.Kind == yaml.ScalarNode && !isKey(p) {
			p.n.Tag, p.n.Value, p.n.Style = other.n.Tag, other.n.Value, 0
		}
	case 2: // delete a mapping entry or a list item
		switch {
		case p.parent.Kind == yaml.MappingNode:
			k := p.i &^ 1
			p.parent.Content = append(p.parent.Content[:k:k], p.parent.Content[k+2:]...)
		case p.parent.Kind == yaml.SequenceNode:
			p.parent.Content = append(p.parent.Content[:p.i:p.i], p.parent.Content[p.i+1:]...)
		}
	case 3: // duplicate a list item
		if p.parent.Kind == yaml.SequenceNode {
			p.parent.Content = append(p.parent.Content, deepCopy(p.n))
		}
	case 4: // swap two values of the same kind
		if p.n.Kind == yaml.ScalarNode && other.n.Kind == yaml.ScalarNode && !isKey(p) && !isKey(other) {
			p.n.Tag, other.n.Tag = other.n.Tag, p.n.Tag
			p.n.Value, other.n.Value = other.n.Value, p.n.Value
		}
	}
}

// isKey: p is a mapping's key, which edits leave alone (a renamed field
// is refused by the loader, which its own tests cover).
func isKey(p place) bool { return p.parent.Kind == yaml.MappingNode && p.i%2 == 0 }

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}
