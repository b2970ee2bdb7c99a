// Package h1frame finds where an HTTP/1.1 message ends, as far as the peer
// benchmark's measuring sticks (bench/peers/floor and bench/peers/evfloor)
// need it: a head ended by an empty line, and a body of Content-Length
// bytes. It trusts its input and is never a parser for a proxy.
package h1frame

import (
	"bytes"
	"strconv"
)

// ContentLength is the value of the head's Content-Length field, or 0
// without one.
func ContentLength(head []byte) int {
	for _, name := range []string{"\r\nContent-Length: ", "\r\ncontent-length: "} {
		if i := bytes.Index(head, []byte(name)); i >= 0 {
			v := head[i+len(name):]
			if j := bytes.IndexByte(v, '\r'); j >= 0 {
				v = v[:j]
			}
			n, _ := strconv.Atoi(string(v))
			return n
		}
	}
	return 0
}

// Len is the length of the whole message at the start of b (its head and,
// with body, its Content-Length bytes), or 0 while it is incomplete.
func Len(b []byte, body bool) int {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0
	}
	n := end + 4
	if body {
		n += ContentLength(b[:end])
	}
	if n > len(b) {
		return 0
	}
	return n
}
