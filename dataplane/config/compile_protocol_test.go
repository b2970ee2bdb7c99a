package config

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func h2Options(h2 *corev3.Http2ProtocolOptions) *anypb.Any {
	return mustAny(&upstreamhttpv3.HttpProtocolOptions{UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: h2}}}})
}

// TestUpstreamProtocol: no options is HTTP/1.1, explicit
// http2_protocol_options HTTP/2; other keys, types and fields are NACKed
// with their path.
func TestUpstreamProtocol(t *testing.T) {
	cfg, err := Compile(testResources())
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Clusters["c"].Protocol; p != UpstreamHTTP1 {
		t.Errorf("default protocol = %v", p)
	}
	r := testResources()
	r.Clusters["c"].TypedExtensionProtocolOptions = map[string]*anypb.Any{nameHTTPProtocolOptions: h2Options(&corev3.Http2ProtocolOptions{})}
	cfg, err = Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Clusters["c"].Protocol; p != UpstreamHTTP2 {
		t.Errorf("h2 protocol = %v", p)
	}
	if old := testResources(); cfg.Clusters["c"].Equal(mustCompile(t, old).Clusters["c"]) {
		t.Error("clusters differing in protocol compare equal")
	}

	bad := []struct {
		name string
		opts map[string]*anypb.Any
		want string
	}{
		{"unknown key", map[string]*anypb.Any{"envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions": h2Options(&corev3.Http2ProtocolOptions{})},
			`cluster "c": typed_extension_protocol_options: unsupported key "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"`},
		{"field inside http2 options", map[string]*anypb.Any{nameHTTPProtocolOptions: h2Options(&corev3.Http2ProtocolOptions{MaxConcurrentStreams: wrapperspb.UInt32(10)})},
			`unsupported field "max_concurrent_streams"`},
		{"wrong type", map[string]*anypb.Any{nameHTTPProtocolOptions: mustAny(&corev3.Http2ProtocolOptions{})},
			`unsupported type "type.googleapis.com/envoy.config.core.v3.Http2ProtocolOptions"`},
		{"auto config", map[string]*anypb.Any{nameHTTPProtocolOptions: mustAny(&upstreamhttpv3.HttpProtocolOptions{UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &upstreamhttpv3.HttpProtocolOptions_AutoHttpConfig{}}})},
			`unsupported field "auto_config"`},
		{"empty options", map[string]*anypb.Any{nameHTTPProtocolOptions: mustAny(&upstreamhttpv3.HttpProtocolOptions{})},
			`explicit_http_config.http2_protocol_options is required`},
	}
	for _, tc := range bad {
		r := testResources()
		r.Clusters["c"].TypedExtensionProtocolOptions = tc.opts
		if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func mustCompile(t *testing.T, r *Resources) *Config {
	t.Helper()
	cfg, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestUpgradeConfigs: upgrade_configs names the upgrade types an HTTP
// connection manager lets through; an empty type is NACKed.
func TestUpgradeConfigs(t *testing.T) {
	h := testHCM("rc")
	h.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "WebSocket"}}
	r := testResources()
	r.Listeners["0.0.0.0:8080"] = testListener(h)
	cfg := mustCompile(t, r)
	if got := cfg.Listeners["0.0.0.0:8080"].Chain("").HTTP.Upgrades; len(got) != 1 || got[0] != "websocket" {
		t.Errorf("upgrades = %v", got)
	}
	h.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket", Enabled: wrapperspb.Bool(false)}}
	r.Listeners["0.0.0.0:8080"] = testListener(h)
	if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), `unsupported field "enabled"`) {
		t.Errorf("enabled: %v", err)
	}
	h.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{}}
	r.Listeners["0.0.0.0:8080"] = testListener(h)
	if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), "upgrade_configs[0].upgrade_type") {
		t.Errorf("empty type: %v", err)
	}
}
