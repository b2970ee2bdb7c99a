package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The testdata files are real output of the Debian wrk 4.1.0 and h2load
// 1.52.0 the harness installs, captured against bench/peers/backend.

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file          string
		want          loadResult
		wantErrDetail string
	}{
		{file: "wrk-keepalive.txt", want: loadResult{Requests: 59984, Seconds: 3, RPS: 19970.21, P50ms: 1.61, P99ms: 613.76}},
		{file: "wrk-tls-close.txt", want: loadResult{Requests: 303, Seconds: 3.01, RPS: 100.81, P50ms: 31.58, P99ms: 642.42}},
		{file: "wrk-errors.txt", want: loadResult{Requests: 17736, Seconds: 1, RPS: 17726.22, P50ms: 0.258, P99ms: 153.81, Errors: 17736},
			wantErrDetail: "Non-2xx or 3xx responses: 17736"},
		{file: "wrk-socket-errors.txt", want: loadResult{Requests: 0, Seconds: 1.02, RPS: 0, Errors: 20017},
			wantErrDetail: "Socket errors: connect 0, read 20017, write 0, timeout 0"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseWrk(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			detail := got.ErrorDetail
			got.ErrorDetail = ""
			if !sameResult(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if detail != tc.wantErrDetail {
				t.Errorf("error detail %q, want %q", detail, tc.wantErrDetail)
			}
		})
	}
}

func TestParseWrkRefusesOutputWithoutResult(t *testing.T) {
	out := readTestdata(t, "wrk-keepalive.txt")
	if _, err := parseWrk(out[:len(out)/2]); err == nil {
		t.Error("half an output parsed without error")
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a connection failure parsed without error")
	}
}

func TestParseH2load(t *testing.T) {
	lat, err := readH2loadLog(filepath.Join("testdata", "h2load-requests.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 200 {
		t.Fatalf("%d latencies, want the log's 200 lines", len(lat))
	}
	if lat[0] != 7728*time.Microsecond {
		t.Errorf("first latency %s, want the log's 7728 µs", lat[0])
	}
	want := loadResult{Requests: 16476, Seconds: 3.35, RPS: 5492, Protocol: "h2",
		P50ms: ms(percentile(slices.Clone(lat), 50)), P99ms: ms(percentile(slices.Clone(lat), 99))}
	got, err := parseH2load(readTestdata(t, "h2load.txt"), lat)
	if err != nil {
		t.Fatal(err)
	}
	got.ErrorDetail = ""
	if !sameResult(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := parseH2load(readTestdata(t, "h2load.txt"), nil); err == nil {
		t.Error("no latencies: want an error")
	}
	if _, err := parseH2load(readTestdata(t, "h2load.txt"), make([]time.Duration, 16477)); err == nil {
		t.Error("a log of more requests than h2load did (16477 against 16476): want an error")
	}
}

// Each h2load run's percentiles are its own requests': h2load appends to
// its --log-file, so a log left by the run before must not be read. A
// stand-in h2load on PATH logs three requests of 1 ms on its first run and
// three of 5 ms on its second; a stand-in taskset runs it (so that the
// test needs neither tool installed).
func TestH2loadRunReadsOnlyItsOwnLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "taskset"), []byte("#!/bin/sh\nshift 2\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := "finished in 1.00s, 3.00 req/s, 1KB/s\n" +
		"requests: 3 total, 3 started, 3 done, 3 succeeded, 0 failed, 0 errored, 0 timeout\n" +
		"status codes: 3 2xx, 0 3xx, 0 4xx, 0 5xx\n" +
		"Application protocol: h2\n"
	script := `#!/bin/sh
log=
for a in "$@"; do case "$a" in --log-file=*) log="${a#--log-file=}";; esac; done
n=$(cat "` + dir + `/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "` + dir + `/runs"
us=1000; [ $n -ge 2 ] && us=5000
for i in 1 2 3; do printf '1700000000000000\t200\t%d\n' $us >> "$log"; done
printf '` + out + `'
`
	if err := os.WriteFile(filepath.Join(dir, "h2load"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	s, _ := scenarioByName("h2")
	run := loadRun{Scenario: s, URL: "https://localhost:1/", CPU: 0, Duration: time.Second,
		LogFile: filepath.Join(dir, "h2load-requests.log")}
	for i, want := range []float64{1, 5} {
		raw, res, err := run.run(context.Background())
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, raw)
		}
		if res.P50ms != want || res.P99ms != want || res.Requests != 3 {
			t.Errorf("run %d: p50 %v ms, p99 %v ms, %d requests; want %v ms, %v ms and 3 (its own requests only)", i+1, res.P50ms, res.P99ms, res.Requests, want, want)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.5: time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one sample: p99 %d, want 7", got)
	}
}

func TestToDuration(t *testing.T) {
	for in, want := range map[[2]string]time.Duration{
		{"485.00", "us"}: 485 * time.Microsecond,
		{"1.23", "ms"}:   1230 * time.Microsecond,
		{"2", "s"}:       2 * time.Second,
		{"1.5", "m"}:     90 * time.Second,
	} {
		got, err := toDuration(in[0], in[1])
		if err != nil || got != want {
			t.Errorf("%v: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := toDuration("1", "d"); err == nil {
		t.Error("unit d: want an error")
	}
}

// sameResult compares results, the floats to 0.1%.
func sameResult(a, b loadResult) bool {
	near := func(x, y float64) bool {
		if x == y {
			return true
		}
		d := x - y
		if d < 0 {
			d = -d
		}
		return d <= 0.001*max(x, y, -x, -y)
	}
	return a.Requests == b.Requests && a.Errors == b.Errors && a.Protocol == b.Protocol &&
		near(a.Seconds, b.Seconds) && near(a.RPS, b.RPS) && near(a.P50ms, b.P50ms) && near(a.P99ms, b.P99ms)
}

func TestParseSClient(t *testing.T) {
	out := "CONNECTED(00000003)\n---\nPeer signature type: ECDSA\nServer Temp Key: X25519, 253 bits\n---\n" +
		"New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256\nALPN protocol: h2\n    Protocol  : TLSv1.3\n"
	if got, want := parseSClient(out), "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 ECDSA ALPN h2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
