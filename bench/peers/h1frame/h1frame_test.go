package h1frame

import "testing"

func TestLen(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	for _, c := range []struct {
		in   string
		body bool
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next", false, 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n", false, 0},
		{resp, true, len(resp)},
		{resp + "HTTP/1.1", true, len(resp)},
		{resp[:len(resp)-1], true, 0},
		{"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n", true, 46},
	} {
		if got := Len([]byte(c.in), c.body); got != c.want {
			t.Errorf("Len(%q, %v) = %d, want %d", c.in, c.body, got, c.want)
		}
	}
}
