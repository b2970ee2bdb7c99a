package config

import (
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// HTTP2Limits are the http_connection_manager's http2_protocol_options
// the data plane serves (docs/xds-contract.md, "HTTP/2 edge defences").
// Zero means "not set": the proxy applies its documented default, which
// is Envoy's edge recommendation rather than Envoy's (much larger) built-in
// default. Like every socket-wide limit they are read from the first HTTP
// chain when the socket is bound.
type HTTP2Limits struct {
	// MaxConcurrentStreams is max_concurrent_streams (Envoy: 1..2^31-1).
	MaxConcurrentStreams uint32
	// InitialStreamWindowSize is initial_stream_window_size (Envoy:
	// 65535..2^31-1), the per-stream receive buffer.
	InitialStreamWindowSize uint32
	// InitialConnectionWindowSize is initial_connection_window_size
	// (Envoy: 65535..2^31-1), the per-connection receive buffer.
	InitialConnectionWindowSize uint32
}

func compileHTTP2Limits(rep reporter, loc string, o *corev3.Http2ProtocolOptions) (HTTP2Limits, error) {
	var l HTTP2Limits
	for _, f := range []struct {
		name string
		v    *wrapperspb.UInt32Value
		min  uint32
		dst  *uint32
	}{
		{"max_concurrent_streams", o.GetMaxConcurrentStreams(), 1, &l.MaxConcurrentStreams},
		{"initial_stream_window_size", o.GetInitialStreamWindowSize(), 65535, &l.InitialStreamWindowSize},
		{"initial_connection_window_size", o.GetInitialConnectionWindowSize(), 65535, &l.InitialConnectionWindowSize},
	} {
		if f.v == nil {
			continue
		}
		if v := f.v.GetValue(); v < f.min || v > math.MaxInt32 {
			return l, rep.errf(loc+"."+f.name, "%d out of range %d..%d", v, f.min, math.MaxInt32)
		}
		*f.dst = f.v.GetValue()
	}
	return l, nil
}
