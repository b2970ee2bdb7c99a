package config

import (
	"strings"
	"testing"

	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func bufferHTTPFilter(b *bufferv3.Buffer) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: nameBuffer, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(b)}}
}

func corsHTTPFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: nameCORS, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}}
}

func routerHTTPFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: nameRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}
}

// TestBufferFilter: [cors, buffer, router] and [buffer, router] compile to
// the limit; no buffer filter is unlimited; an empty or zero
// max_request_bytes, another Buffer field, or the buffer after the router
// is NACKed naming the place.
func TestBufferFilter(t *testing.T) {
	compileWith := func(filters ...*hcmv3.HttpFilter) (*Config, error) {
		h := testHCM("rc")
		h.HttpFilters = filters
		r := testResources()
		r.Listeners["0.0.0.0:8080"] = testListener(h)
		return Compile(r)
	}
	limit := func(cfg *Config) uint32 { return cfg.Listeners["0.0.0.0:8080"].Chain("").HTTP.MaxRequestBodyBytes }

	cfg, err := compileWith(corsHTTPFilter(), bufferHTTPFilter(&bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(1024)}), routerHTTPFilter())
	if err != nil {
		t.Fatal(err)
	}
	if got := limit(cfg); got != 1024 {
		t.Errorf("cors+buffer limit = %d", got)
	}
	if !cfg.Listeners["0.0.0.0:8080"].Chain("").HTTP.CORS {
		t.Error("CORS lost next to the buffer filter")
	}
	cfg, err = compileWith(bufferHTTPFilter(&bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(7)}), routerHTTPFilter())
	if err != nil || limit(cfg) != 7 {
		t.Errorf("buffer+router: %v", err)
	}
	cfg, err = compileWith(corsHTTPFilter(), routerHTTPFilter())
	if err != nil || limit(cfg) != 0 {
		t.Errorf("no buffer: %v", err)
	}

	bad := []struct {
		name    string
		filters []*hcmv3.HttpFilter
		want    string
	}{
		{"unset", []*hcmv3.HttpFilter{bufferHTTPFilter(&bufferv3.Buffer{}), routerHTTPFilter()},
			"http_filters[0].typed_config.max_request_bytes: must be set and at least 1"},
		{"zero", []*hcmv3.HttpFilter{corsHTTPFilter(), bufferHTTPFilter(&bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(0)}), routerHTTPFilter()},
			"http_filters[1].typed_config.max_request_bytes: must be set and at least 1"},
		{"after the router", []*hcmv3.HttpFilter{routerHTTPFilter(), bufferHTTPFilter(&bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(1)})},
			"the http filters must be"},
		{"wrong type", []*hcmv3.HttpFilter{{Name: nameBuffer, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}}, routerHTTPFilter()},
			`"envoy.filters.http.buffer" needs a Buffer typed_config`},
	}
	for _, tc := range bad {
		if _, err := compileWith(tc.filters...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
