package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"time"
)

// The new-connection probe: what a client that opens a new TLS connection
// waits for, from its connect to the end of its response.
//
// Why: in the new-connection scenario wrk starts a request's clock when it
// writes the request, after the TLS handshake, so its latencies leave out
// the handshake that the scenario is there to measure, and the time a
// connection waited to be accepted. A proxy that leaves connections in its
// kernel accept queue (nginx accepts one per turn of its event loop) keeps
// that wait out of wrk's figures; one that accepts at once and handshakes
// them side by side has it inside. The accept queue column infers the
// difference by Little's law; the probe measures it.
//
// What: a process of its own, pinned with the load generator, that starts
// a new connection every -every while wrk's load runs: TCP connect, a full
// TLS 1.3 handshake (X25519, no session resumption, as wrk's OpenSSL
// negotiates), one GET with Connection: close, the whole response. It
// starts each on its schedule whether or not the ones before finished, so
// a slow proxy cannot slow the probe down and hide its own slowness. At 50
// connections a second it is under 2% of wrk's, and it costs every proxy
// the same share of the load core.

// connProbeResult is what one probe run measured: connect to response, and
// connect to the handshake's end, over the connections that got a 2xx.
type connProbeResult struct {
	Count  int `json:"count"`
	Errors int `json:"errors"`
	// FirstError is the first failure's reason, when there were any.
	FirstError   string  `json:"first_error,omitempty"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	HandshakeP50 float64 `json:"handshake_p50_ms"`
	HandshakeP99 float64 `json:"handshake_p99_ms"`
	// TotalsUs and HandshakesUs are every connection's times, in µs, in
	// the order they finished: the report pools the rounds' for its
	// percentiles (a round's 450 put its p99 on the fifth slowest).
	TotalsUs     []int64 `json:"totals_us,omitempty"`
	HandshakesUs []int64 `json:"handshakes_us,omitempty"`
}

// connProbe is the probe's plan.
type connProbe struct {
	URL    string
	CAFile string        // the certificate every TLS listener serves
	Every  time.Duration // between connection starts
	Delay  time.Duration // before the first, while the load ramps up
	For    time.Duration // starts connections this long
}

// connProbeSample is one connection's timing (err: it failed).
type connProbeSample struct {
	total, handshake time.Duration
	err              error
}

// runConnProbe is `peerbench connprobe`: the probe's own process, which
// prints its connProbeResult as JSON.
func runConnProbe(args []string) error {
	var p connProbe
	fs := flag.NewFlagSet("peerbench connprobe", flag.ContinueOnError)
	fs.StringVar(&p.URL, "url", "", "https URL to open new connections to")
	fs.StringVar(&p.CAFile, "ca", "", "PEM certificate the server's must chain to")
	fs.DurationVar(&p.Every, "every", 20*time.Millisecond, "time between connection starts")
	fs.DurationVar(&p.Delay, "delay", 500*time.Millisecond, "wait before the first connection")
	fs.DurationVar(&p.For, "for", 9*time.Second, "how long to start connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if p.URL == "" || p.CAFile == "" || p.Every <= 0 {
		return errors.New("connprobe: -url, -ca and a positive -every are required")
	}
	res, err := p.run(context.Background())
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func (p connProbe) run(ctx context.Context) (connProbeResult, error) {
	u, err := url.Parse(p.URL)
	if err != nil || u.Scheme != "https" || u.Port() == "" {
		return connProbeResult{}, fmt.Errorf("connprobe: want an https URL with a port, not %q", p.URL)
	}
	pemBytes, err := os.ReadFile(p.CAFile)
	if err != nil {
		return connProbeResult{}, fmt.Errorf("connprobe: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return connProbeResult{}, fmt.Errorf("connprobe: %s holds no PEM certificate", p.CAFile)
	}
	cfg := &tls.Config{
		RootCAs:          roots,
		ServerName:       u.Hostname(),
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
		NextProtos:       []string{"http/1.1"},
		// No ClientSessionCache: every connection a full handshake.
	}
	request := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n")
	// Resolved once, to IPv4 as the proxies listen: a dial of "localhost"
	// could try ::1 first each time. The name stays the SNI.
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", u.Hostname())
	if err != nil || len(ips) == 0 {
		return connProbeResult{}, fmt.Errorf("connprobe: resolving %s: %v", u.Hostname(), err)
	}
	addr := net.JoinHostPort(ips[0].String(), u.Port())

	select {
	case <-time.After(p.Delay):
	case <-ctx.Done():
		return connProbeResult{}, ctx.Err()
	}
	var (
		mu      sync.Mutex
		samples []connProbeSample
		wg      sync.WaitGroup
	)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * p.Every)
		if at.Sub(start) >= p.For {
			break
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return connProbeResult{}, ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := probeOnce(ctx, addr, cfg, request)
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarizeProbe(samples), nil
}

// probeOnce opens one connection, makes one request on it and reads the
// whole response.
func probeOnce(ctx context.Context, addr string, cfg *tls.Config, request []byte) connProbeSample {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t0 := time.Now()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return connProbeSample{err: err}
	}
	defer raw.Close()
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return connProbeSample{err: fmt.Errorf("handshake: %w", err)}
	}
	handshake := time.Since(t0)
	if _, err := conn.Write(request); err != nil {
		return connProbeSample{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return connProbeSample{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return connProbeSample{err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return connProbeSample{err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	return connProbeSample{total: time.Since(t0), handshake: handshake}
}

func summarizeProbe(samples []connProbeSample) connProbeResult {
	var r connProbeResult
	var totals, handshakes []time.Duration
	for _, s := range samples {
		if s.err != nil {
			if r.Errors == 0 {
				r.FirstError = s.err.Error()
			}
			r.Errors++
			continue
		}
		totals = append(totals, s.total)
		handshakes = append(handshakes, s.handshake)
		r.TotalsUs = append(r.TotalsUs, s.total.Microseconds())
		r.HandshakesUs = append(r.HandshakesUs, s.handshake.Microseconds())
	}
	r.Count = len(totals)
	r.P50ms, r.P99ms = ms(percentile(totals, 50)), ms(percentile(totals, 99))
	r.HandshakeP50, r.HandshakeP99 = ms(percentile(handshakes, 50)), ms(percentile(handshakes, 99))
	return r
}

// startConnProbe runs the probe in its own process pinned to cpu (the load
// core), for the measured run of the new-connection scenario.
func startConnProbe(cpu int, p connProbe) (*connProbeRun, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startConnProbeArgv(pinned(cpu, append([]string{self}, connProbeArgs(p)...)...))
}

// connProbeArgs is peerbench's command line for the probe p.
func connProbeArgs(p connProbe) []string {
	return []string{"connprobe", "-url", p.URL, "-ca", p.CAFile,
		"-every", p.Every.String(), "-delay", p.Delay.String(), "-for", p.For.String()}
}

func startConnProbeArgv(argv []string) (*connProbeRun, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	// One writer for both: exec copies into it from one goroutine at a
	// time, and Wait returns once the copying is done.
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &connProbeRun{cmd: cmd, out: out}, nil
}

type connProbeRun struct {
	cmd *exec.Cmd
	out *bytes.Buffer // read only after cmd.Wait
}

// wait waits for the probe to end and reads its result.
func (r *connProbeRun) wait() (connProbeResult, error) {
	err := r.cmd.Wait()
	text := r.out.String()
	if err != nil {
		return connProbeResult{}, fmt.Errorf("connprobe: %v: %s", err, oneLine(text))
	}
	var res connProbeResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		return connProbeResult{}, fmt.Errorf("connprobe: reading %q: %w", oneLine(text), err)
	}
	return res, nil
}
