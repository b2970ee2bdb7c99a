package proxy

import (
	"net/http"
	"slices"
	"testing"
)

// WriteHeader formats the head in one pass over the handler's map: the
// framing fields are picked out on the way and never written as they
// are, the rest go out sorted by name.
func TestH1WriterHeadPicksFramingFields(t *testing.T) {
	var w h1Writer
	w.init(&h1Client{})
	w.reset(&http.Request{Method: http.MethodGet}, nil)
	h := w.Header()
	h["Content-Length"] = []string{"12"}
	h["Transfer-Encoding"] = []string{"chunked"}
	h["Connection"] = []string{"close"}
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Encoding"] = []string{"gzip"}
	h["Date"] = []string{"Tue, 24 Nov 2026 01:00:00 GMT"}
	h["Trailer"] = []string{"x-checksum, Content-Length"}
	h["Trailer:X-Late"] = []string{"1"}
	h["Bad Name"] = []string{"dropped"}
	h["X-B"] = []string{"2", "3"}
	h["X-A"] = []string{"1"}
	w.WriteHeader(http.StatusOK)

	want := "HTTP/1.1 200 OK\r\n" +
		"Content-Encoding: gzip\r\n" +
		"Content-Type: text/plain\r\n" +
		"Date: Tue, 24 Nov 2026 01:00:00 GMT\r\n" +
		"Trailer: x-checksum, Content-Length\r\n" +
		"X-A: 1\r\n" +
		"X-B: 2\r\n" +
		"X-B: 3\r\n"
	if got := string(w.head); got != want {
		t.Errorf("head:\n%q\nwant\n%q", got, want)
	}
	if w.declaredCL != 12 || w.te != "chunked" || !slices.Equal(w.connection, []string{"close"}) {
		t.Errorf("framing: length %d, transfer-encoding %q, connection %q", w.declaredCL, w.te, w.connection)
	}
	if !w.hasCT || !w.hasCE || !w.hasDate || !w.hasTrailers || !slices.Equal(w.trailerNames, []string{"X-Checksum"}) {
		t.Errorf("flags: type %v, encoding %v, date %v, trailers %v %q", w.hasCT, w.hasCE, w.hasDate, w.hasTrailers, w.trailerNames)
	}

	// A 304 carries no Content-Type (net/http drops it too), but it still
	// counts as set: nothing is sniffed for it.
	w.reset(&http.Request{Method: http.MethodGet}, nil)
	h = w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Etag"] = []string{`"x"`}
	h["Content-Length"] = []string{"bad"}
	w.WriteHeader(http.StatusNotModified)
	if got, want := string(w.head), "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n"; got != want {
		t.Errorf("304 head %q, want %q", got, want)
	}
	if !w.hasCT || w.declaredCL != -1 || w.hasTrailers {
		t.Errorf("304 flags: type %v, length %d, trailers %v", w.hasCT, w.declaredCL, w.hasTrailers)
	}
}

// sortFields orders any number of fields by name, on both sides of the
// size where it hands over to slices.SortFunc, whatever order the map
// gave them in.
func TestSortFieldsOrdersByName(t *testing.T) {
	names := []string{"X-Request-Id", "Content-Type", "Vary", "A", "X-A", "Set-Cookie", "Cache-Control",
		"Etag", "Server", "X-B", "Age", "Via", "Expires", "Last-Modified", "Link", "B", "Z", "X-Ab", "X-Aa", "Allow"}
	for n := 0; n <= len(names); n++ {
		for rot := range max(n, 1) {
			fields := make([]headerField, 0, n)
			for i := range n {
				name := names[(i+rot)%n]
				fields = append(fields, headerField{name, []string{name}})
			}
			if n > 1 && rot%2 == 1 {
				slices.Reverse(fields)
			}
			sortFields(fields)
			got := make([]string, len(fields))
			for i, f := range fields {
				got[i] = f.name
				if f.values[0] != f.name {
					t.Fatalf("n=%d rot=%d: field %s carries %q: values left their name", n, rot, f.name, f.values[0])
				}
			}
			want := slices.Clone(names[:n])
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d rot=%d: got %v, want %v", n, rot, got, want)
			}
		}
	}
}
