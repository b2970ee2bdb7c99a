package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// prober sends requests for a route's hostname to one address (the
// Gateway's load balancer address, or the data plane pod's IP) over one
// keep-alive connection.
type prober struct {
	client *http.Client
	url    string
}

func newProber(addr netip.Addr, port int) *prober {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   1,
		DisableCompression:    true,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	return &prober{
		client: &http.Client{Transport: tr},
		url:    "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + "/",
	}
}

func (p *prober) close() { p.client.CloseIdleConnections() }

// answer is what one request got.
type answer struct {
	status  int    // 0 when err is set
	service string // the echo backend that answered a 200 (its SERVICE_NAME)
	err     error  // connection or protocol error
}

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	if a.service != "" {
		return fmt.Sprintf("%d from %s", a.status, a.service)
	}
	return fmt.Sprint(a.status)
}

// get asks for host's "/" and, for a 200, reads which backend answered.
// The body is always read to the end so the connection is reused.
func (p *prober) get(ctx context.Context, host string, decode bool) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return answer{err: err}
	}
	req.Host = host
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: fmt.Errorf("reading the body of a %d: %w", resp.StatusCode, err)}
	}
	a := answer{status: resp.StatusCode}
	if decode && resp.StatusCode == http.StatusOK {
		var echo struct {
			Service string `json:"service"`
		}
		if err := json.Unmarshal(body, &echo); err == nil {
			a.service = echo.Service
		}
	}
	return a
}

// pollStats is what a pollUntil took: its requests, and the slowest of them
// (a long one is a stall on the way, not the configuration's delay).
type pollStats struct {
	N       int
	Slowest time.Duration
}

// pollUntil asks for host every interval (from the start of one request to
// the start of the next) until ok accepts the answer or ctx ends. It
// returns the time the accepted answer arrived and its requests.
func (p *prober) pollUntil(ctx context.Context, host string, interval time.Duration, ok func(answer) bool) (time.Time, pollStats, answer, error) {
	var last answer
	var st pollStats
	for {
		st.N++
		sent := time.Now()
		last = p.get(ctx, host, true)
		took := time.Since(sent)
		st.Slowest = max(st.Slowest, took)
		if ok(last) {
			return time.Now(), st, last, nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, st, last, err
		}
		if d := interval - took; d > 0 {
			sleep(ctx, d)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
