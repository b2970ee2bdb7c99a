package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PROXY protocol (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt),
// the proxy_protocol listener filter: a cloud load balancer prefixes each
// connection with the real client's address. Versions 1 (text) and 2
// (binary) are both accepted, as Envoy does. Exactly the header is read, never
// more, so the bytes after it reach the tls_inspector and the HTTP server
// untouched.

var (
	ppV1Prefix = []byte("PROXY ")
	ppV2Sig    = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// maxV1Header is the longest v1 header: "PROXY TCP6 " + two IPv6
// addresses, two ports and CRLF (107 bytes in the spec).
const maxV1Header = 107

// errProxyProtocol marks a connection without a valid PROXY header.
var errProxyProtocol = errors.New("proxy protocol")

// readProxyHeader reads a PROXY header from c and returns the source address
// it announces, or nil when the header does not carry one (v1 UNKNOWN, v2
// LOCAL or an unspecified family: health checks by the load balancer), in
// which case the peer address stands.
func readProxyHeader(c io.Reader) (net.Addr, error) {
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return nil, fmt.Errorf("%w: reading header: %v", errProxyProtocol, err)
	}
	switch {
	case bytes.HasPrefix(head[:], ppV1Prefix):
		return readProxyV1(c, head[:])
	case bytes.Equal(head[:], ppV2Sig[:8]):
		return readProxyV2(c)
	}
	return nil, fmt.Errorf("%w: connection does not start with a PROXY header", errProxyProtocol)
}

// readProxyV1 reads up to CRLF one byte at a time (the header is short and
// read once per connection; reading ahead would swallow client bytes).
func readProxyV1(c io.Reader, start []byte) (net.Addr, error) {
	line := append(make([]byte, 0, maxV1Header), start...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= maxV1Header {
			return nil, fmt.Errorf("%w: v1 header longer than %d bytes", errProxyProtocol, maxV1Header)
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return nil, fmt.Errorf("%w: reading v1 header: %v", errProxyProtocol, err)
		}
		line = append(line, b[0])
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: malformed v1 header %q", errProxyProtocol, line)
	}
	src, err := netip.ParseAddr(f[2])
	if err != nil || src.Zone() != "" || src.Is4() != (f[1] == "TCP4") {
		return nil, fmt.Errorf("%w: v1 source address %q", errProxyProtocol, f[2])
	}
	if _, err := netip.ParseAddr(f[3]); err != nil {
		return nil, fmt.Errorf("%w: v1 destination address %q", errProxyProtocol, f[3])
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil || (len(f[4]) > 1 && f[4][0] == '0') {
		return nil, fmt.Errorf("%w: v1 source port %q", errProxyProtocol, f[4])
	}
	if _, err := strconv.ParseUint(f[5], 10, 16); err != nil {
		return nil, fmt.Errorf("%w: v1 destination port %q", errProxyProtocol, f[5])
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(port))), nil
}

// readProxyV2 reads the rest of a v2 header: 4 more signature bytes,
// version/command, family/protocol, a 16-bit length and that many bytes of
// addresses and TLVs (TLVs are skipped).
func readProxyV2(c io.Reader) (net.Addr, error) {
	var h [8]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, fmt.Errorf("%w: reading v2 header: %v", errProxyProtocol, err)
	}
	if !bytes.Equal(h[:4], ppV2Sig[8:]) {
		return nil, fmt.Errorf("%w: bad v2 signature", errProxyProtocol)
	}
	verCmd, famProto := h[4], h[5]
	n := int(binary.BigEndian.Uint16(h[6:8]))
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("%w: v2 version %d", errProxyProtocol, verCmd>>4)
	}
	body := make([]byte, n) // at most 64 KiB, once per connection
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, fmt.Errorf("%w: reading v2 addresses: %v", errProxyProtocol, err)
	}
	switch verCmd & 0xf {
	case 0x0: // LOCAL: the load balancer itself (health check)
		return nil, nil
	case 0x1: // PROXY
	default:
		return nil, fmt.Errorf("%w: v2 command %d", errProxyProtocol, verCmd&0xf)
	}
	var ip netip.Addr
	var port uint16
	switch famProto >> 4 {
	case 0x1: // AF_INET
		if n < 12 {
			return nil, fmt.Errorf("%w: v2 IPv4 addresses truncated", errProxyProtocol)
		}
		ip = netip.AddrFrom4([4]byte(body[0:4]))
		port = binary.BigEndian.Uint16(body[8:10])
	case 0x2: // AF_INET6
		if n < 36 {
			return nil, fmt.Errorf("%w: v2 IPv6 addresses truncated", errProxyProtocol)
		}
		ip = netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		port = binary.BigEndian.Uint16(body[32:34])
	default: // AF_UNSPEC or AF_UNIX: no usable address
		return nil, nil
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, port)), nil
}
