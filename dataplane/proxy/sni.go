package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// errHelloSeen stops the throw-away handshake in peekClientHello as soon as
// crypto/tls has parsed the ClientHello.
var errHelloSeen = errors.New("client hello seen")

// clientHello is what the tls_inspector learns from a ClientHello: the SNI
// and the offered ALPN protocols (filter chains match on both).
type clientHello struct {
	serverName string
	alpn       []string
}

// peekClientHello is the tls_inspector: it reads the start of a connection
// and, if it is a TLS handshake, the SNI and ALPN of its ClientHello,
// without consuming anything: the returned conn replays every byte read.
// Parsing is left to crypto/tls (a handshake on a read-only view of the
// connection that aborts in GetConfigForClient), so malformed hellos are
// rejected by the same code that would terminate them.
func peekClientHello(c net.Conn) (ch clientHello, isTLS bool, replay net.Conn, err error) {
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return ch, false, nil, err
	}
	if first[0] != 0x16 { // not a TLS handshake record: plain text
		return ch, false, &prefixConn{Conn: c, prefix: first[:]}, nil
	}
	var buf bytes.Buffer
	buf.WriteByte(first[0])
	ro := &readOnlyConn{Conn: c, r: io.MultiReader(bytes.NewReader(first[:]), io.TeeReader(c, &buf))}
	var hello *tls.ClientHelloInfo
	herr := tls.Server(ro, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		hello = h
		return nil, errHelloSeen
	}}).Handshake()
	if hello == nil {
		return ch, true, nil, herr
	}
	ch = clientHello{serverName: hello.ServerName, alpn: hello.SupportedProtos}
	return ch, true, &prefixConn{Conn: c, prefix: buf.Bytes()}, nil
}

// readOnlyConn feeds the inspection handshake; whatever crypto/tls tries to
// send back (an alert) is dropped so the client never sees it.
type readOnlyConn struct {
	net.Conn
	r io.Reader
}

func (c *readOnlyConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *readOnlyConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *readOnlyConn) Close() error                     { return nil }
func (c *readOnlyConn) SetDeadline(time.Time) error      { return nil }
func (c *readOnlyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *readOnlyConn) SetWriteDeadline(time.Time) error { return nil }

// prefixConn replays the bytes the inspector read before reading on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes when the underlying conn can (TCP does).
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
