package proxy

import (
	"log"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// h2Server is the data plane's HTTP/2 server of one socket: its settings
// (from the socket's Limits, fixed at bind like the rest of them) and the
// connections it serves, for the graceful GOAWAY of a drain.
type h2Server struct {
	maxStreams    uint32 // SETTINGS_MAX_CONCURRENT_STREAMS; beyond: REFUSED_STREAM
	streamWin     int32  // SETTINGS_INITIAL_WINDOW_SIZE: receive buffer per stream
	connWin       int32  // the connection's receive window
	maxFrame      uint32 // SETTINGS_MAX_FRAME_SIZE we accept
	maxHeaderList uint32 // SETTINGS_MAX_HEADER_LIST_SIZE; beyond: 431
	decoderTable  uint32 // SETTINGS_HEADER_TABLE_SIZE: our HPACK decoder's table
	headerTimeout time.Duration
	idleTimeout   time.Duration
	stallTimeout  time.Duration // see h2MaxStall
	maxBlock      int           // the guard's encoded header block limit
	log           *log.Logger

	mu           sync.Mutex
	conns        map[*h2Conn]struct{}
	shuttingDown bool
}

// h2HeaderOverhead is added to MaxRequestHeaderBytes for the header list
// size, as net/http's servers do: 32 bytes per field (RFC 9113 section
// 6.5.2) for a typical ten fields.
const h2HeaderOverhead = 10 * 32

func newH2Server(lim Limits, errLog *log.Logger) *h2Server {
	cfg := lim.HTTP2Config()
	s := &h2Server{
		maxStreams:    uint32(cfg.MaxConcurrentStreams),
		streamWin:     int32(min(cfg.MaxReceiveBufferPerStream, 1<<31-1)),
		connWin:       int32(min(cfg.MaxReceiveBufferPerConnection, 1<<31-1)),
		maxFrame:      uint32(cfg.MaxReadFrameSize),
		maxHeaderList: uint32(lim.MaxRequestHeaderBytes + h2HeaderOverhead),
		decoderTable:  uint32(cfg.MaxDecoderHeaderTableSize),
		headerTimeout: lim.RequestHeadersTimeout,
		idleTimeout:   lim.IdleTimeout,
		maxBlock:      2 * lim.MaxRequestHeaderBytes,
		log:           errLog,
		conns:         map[*h2Conn]struct{}{},
	}
	// The protocol's bounds (RFC 9113 section 6.5.2).
	if s.maxStreams == 0 {
		s.maxStreams = 100
	}
	if s.streamWin <= 0 {
		s.streamWin = 65535
	}
	if s.connWin < 65535 {
		s.connWin = 65535
	}
	s.maxFrame = min(max(s.maxFrame, 16384), 1<<24-1)
	if s.decoderTable == 0 {
		s.decoderTable = 4096
	}
	if s.log == nil {
		s.log = log.Default()
	}
	s.stallTimeout = h2MaxStall
	return s
}

// h2MaxStall bounds how long a response write may make no progress: a
// stream that gets no send window (a client announcing a zero
// SETTINGS_INITIAL_WINDOW_SIZE and never sending WINDOW_UPDATE) is reset,
// and a connection whose socket takes no bytes (a client that does not
// read) is closed. Without it nothing would free the handler, its
// goroutine and buffers: the idle timeout only covers connections
// without streams, and a route timeout does not wake a handler blocked
// in Write. It is Envoy's stream_idle_timeout default (which covers
// flow-control stalls too; the proxy does not implement that setting
// yet). Not the idle timeout: a short one would cut slow clients, since
// one write to the socket may hold up to h2MaxPending and more.
const h2MaxStall = 5 * time.Minute

// settings is our SETTINGS frame's content.
func (s *h2Server) settings() []http2.Setting {
	return []http2.Setting{
		{ID: http2.SettingMaxFrameSize, Val: s.maxFrame},
		{ID: http2.SettingMaxConcurrentStreams, Val: s.maxStreams},
		{ID: http2.SettingMaxHeaderListSize, Val: s.maxHeaderList},
		{ID: http2.SettingHeaderTableSize, Val: s.decoderTable},
		{ID: http2.SettingInitialWindowSize, Val: uint32(s.streamWin)},
	}
}

// track registers a connection; false once Shutdown began (the
// connection then starts with a GOAWAY).
func (s *h2Server) track(c *h2Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	return !s.shuttingDown
}

func (s *h2Server) untrack(c *h2Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// shutdown sends every connection a graceful GOAWAY: they finish their
// streams and close (http.Server.RegisterOnShutdown; the drain's
// Shutdown waits for the connections).
func (s *h2Server) shutdown() {
	s.mu.Lock()
	s.shuttingDown = true
	conns := make([]*h2Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAwayGracefully()
	}
}
