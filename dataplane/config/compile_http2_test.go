package config

import (
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestHTTP2ProtocolOptions: the three http2_protocol_options fields of the
// contract compile into HTTPLimits.HTTP2; values outside Envoy's ranges
// and every other field of the message are NACKed naming the field.
func TestHTTP2ProtocolOptions(t *testing.T) {
	compile := func(o *corev3.Http2ProtocolOptions) (*Config, error) {
		r := testResources()
		h := testHCM("rc")
		h.Http2ProtocolOptions = o
		r.Listeners["0.0.0.0:8080"] = testListener(h)
		return Compile(r)
	}
	cfg, err := compile(&corev3.Http2ProtocolOptions{MaxConcurrentStreams: wrapperspb.UInt32(7),
		InitialStreamWindowSize: wrapperspb.UInt32(128 << 10), InitialConnectionWindowSize: wrapperspb.UInt32(4 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	want := HTTP2Limits{MaxConcurrentStreams: 7, InitialStreamWindowSize: 128 << 10, InitialConnectionWindowSize: 4 << 20}
	if got := cfg.Listeners["0.0.0.0:8080"].Chain("").HTTP.Limits.HTTP2; got != want {
		t.Errorf("compiled %+v, want %+v", got, want)
	}
	if cfg, err := compile(nil); err != nil || cfg.Listeners["0.0.0.0:8080"].Chain("").HTTP.Limits.HTTP2 != (HTTP2Limits{}) {
		t.Errorf("unset: %v", err)
	}

	const loc = `listener "0.0.0.0:8080": filter_chains[0].filters[0].typed_config.http2_protocol_options`
	for _, tc := range []struct {
		o    *corev3.Http2ProtocolOptions
		want string
	}{
		{&corev3.Http2ProtocolOptions{MaxConcurrentStreams: wrapperspb.UInt32(0)}, loc + `.max_concurrent_streams: 0 out of range 1..2147483647`},
		{&corev3.Http2ProtocolOptions{InitialStreamWindowSize: wrapperspb.UInt32(1000)}, loc + `.initial_stream_window_size: 1000 out of range 65535..2147483647`},
		{&corev3.Http2ProtocolOptions{InitialConnectionWindowSize: wrapperspb.UInt32(1 << 31)}, loc + `.initial_connection_window_size: 2147483648 out of range`},
		{&corev3.Http2ProtocolOptions{HpackTableSize: wrapperspb.UInt32(0)}, loc + `: unsupported field "hpack_table_size"`},
		{&corev3.Http2ProtocolOptions{AllowConnect: true}, loc + `: unsupported field "allow_connect"`},
	} {
		_, err := compile(tc.o)
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Compile(%v) = %v\nwant %s", tc.o, err, tc.want)
		}
	}
}
