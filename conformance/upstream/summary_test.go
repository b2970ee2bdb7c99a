package upstream

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
)

func TestSummarizeOneLinePerProfile(t *testing.T) {
	r := &confv1.ConformanceReport{ProfileReports: []confv1.ProfileReport{
		{Name: "GATEWAY-TLS", Core: confv1.Status{Result: confv1.Success, Statistics: confv1.Statistics{Passed: 5}}},
		{Name: "GATEWAY-HTTP",
			Core: confv1.Status{Result: confv1.Failure, Statistics: confv1.Statistics{Passed: 30, Failed: 1, Skipped: 2}, FailedTests: []string{"HTTPRouteSimpleSameNamespace"}},
			Extended: &confv1.ExtendedStatus{
				Status:              confv1.Status{Result: confv1.Success, Statistics: confv1.Statistics{Passed: 3}},
				SupportedFeatures:   []string{"HTTPRouteQueryParamMatching", "HTTPRouteMethodMatching"},
				UnsupportedFeatures: []string{"GatewayStaticAddresses"},
			}},
	}}
	got := Summarize(r)
	want := []string{
		"GATEWAY-HTTP: core failure 30/33 passed (1 failed, 2 skipped); extended success: 2 features claimed, 3/3 tests passed (0 failed, 0 skipped); not claimed: GatewayStaticAddresses; FAILED: HTTPRouteSimpleSameNamespace",
		"GATEWAY-TLS: core success 5/5 passed (0 failed, 0 skipped)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Summarize:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestKnownFailuresNeedAReason(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "kf.txt")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := readKnownFailures(write("# header\n\nHTTPRouteFoo # needs X\nTLSRouteBar#why\n"))
	if err != nil || len(got) != 2 || got[0].Test != "HTTPRouteFoo" || got[0].Reason != "needs X" || got[1].Line != 4 {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"HTTPRouteFoo\n", "A # x\nA # y\n", "A B # x\n"} {
		if _, err := readKnownFailures(write(bad)); err == nil || !strings.Contains(err.Error(), "kf.txt:") {
			t.Errorf("%q: want an error naming file:line, got %v", bad, err)
		}
	}
	// The committed file parses.
	if _, err := readKnownFailures(KnownFailuresFile); err != nil {
		t.Fatal(err)
	}
}
