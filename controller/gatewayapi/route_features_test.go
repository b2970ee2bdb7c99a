package gatewayapi

import (
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The CEL rule of the CRD refuses these at load time in file mode; the
// translator checks them again for sources that do not run CEL.
func TestCompileTimeouts(t *testing.T) {
	d := func(s string) *gwv1.Duration { v := gwv1.Duration(s); return &v }
	for _, tc := range []struct {
		req, backend *gwv1.Duration
		wantErr      string
		wantReq      int64 // -1: unset
		wantBackend  int64
	}{
		{req: d("10s"), backend: d("1500ms"), wantReq: 10000, wantBackend: 1500},
		{req: d("0s"), backend: d("1h"), wantReq: 0, wantBackend: 3600000}, // request disabled: any backendRequest
		{req: d("5s"), backend: d("0s"), wantReq: 5000, wantBackend: 0},    // backendRequest disabled
		{req: d("1s"), backend: d("2s"), wantErr: "spec.rules[0].timeouts.backendRequest: 2s is longer than timeouts.request 1s"},
		{req: d("1x"), wantErr: "spec.rules[0].timeouts.request"},
		{backend: d("1us"), wantErr: "spec.rules[0].timeouts.backendRequest"},
	} {
		got, p := compileTimeouts("spec.rules[0]", &gwv1.HTTPRouteTimeouts{Request: tc.req, BackendRequest: tc.backend})
		if tc.wantErr != "" {
			if p.ok() || !strings.Contains(p.message, tc.wantErr) || p.reason != string(gwv1.RouteReasonUnsupportedValue) {
				t.Errorf("%v/%v: problem %+v, want %q", tc.req, tc.backend, p, tc.wantErr)
			}
			continue
		}
		if !p.ok() || *got.RequestMillis != uint64(tc.wantReq) || *got.BackendRequestMillis != uint64(tc.wantBackend) {
			t.Errorf("%v/%v: got %+v %+v", *tc.req, *tc.backend, got, p)
		}
	}
}

func TestCompileMirrorFraction(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		m        gwv1.HTTPRequestMirrorFilter
		num, den uint32
		bad      bool
	}{
		{m: gwv1.HTTPRequestMirrorFilter{}, num: 0, den: 0},
		{m: gwv1.HTTPRequestMirrorFilter{Percent: i32(100)}, num: 0, den: 0},
		{m: gwv1.HTTPRequestMirrorFilter{Percent: i32(30)}, num: 30, den: 100},
		{m: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 1, Denominator: i32(3)}}, num: 1, den: 3},
		{m: gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 4, Denominator: i32(3)}}, bad: true},
		{m: gwv1.HTTPRequestMirrorFilter{Percent: i32(1), Fraction: &gwv1.Fraction{Numerator: 1}}, bad: true},
	} {
		got, p := compileMirrorFraction("f", &tc.m)
		if tc.bad != !p.ok() || (!tc.bad && (got.numerator != tc.num || got.denominator != tc.den)) {
			t.Errorf("%+v: got %d/%d %+v", tc.m, got.numerator, got.denominator, p)
		}
	}
}
