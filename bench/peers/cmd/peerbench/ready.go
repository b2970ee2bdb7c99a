package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// probe is one request that must succeed before a target is measured.
type probe struct {
	Name  string
	URL   string
	Host  string // Host header; empty: the URL's
	HTTP2 bool   // must be answered over HTTP/2
}

// probesFor are the requests of every scenario a target runs.
func probesFor(p ports, skip map[string]string, host string) []probe {
	var out []probe
	for _, s := range scenarios {
		if _, ok := skip[s.Name]; ok {
			continue
		}
		if host != "" && s.Name != "http1" {
			continue
		}
		out = append(out, probe{Name: s.Name, URL: s.URL(p), Host: host, HTTP2: s.Tool == "h2load"})
	}
	return out
}

// loopbackClient dials 127.0.0.1 whatever the URL's host says (the
// harness never sends a packet elsewhere), trusting any certificate.
func loopbackClient(http2 bool) *http.Client {
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	}
	tr := &http.Transport{
		DialContext:       dial,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: serverName},
		DisableKeepAlives: true,
	}
	var protos http.Protocols
	protos.SetHTTP1(!http2)
	protos.SetHTTP2(http2)
	tr.Protocols = &protos
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// check sends the probe's request once: nil when it got 200 with the
// backend's body over the right protocol.
func (pr probe) check(bodySize int) error {
	req, err := http.NewRequest(http.MethodGet, pr.URL, nil)
	if err != nil {
		return err
	}
	if pr.Host != "" {
		req.Host = pr.Host
	}
	resp, err := loopbackClient(pr.HTTP2).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d, want 200", resp.StatusCode)
	case len(body) != bodySize:
		return fmt.Errorf("%d body bytes, want the backend's %d", len(body), bodySize)
	case pr.HTTP2 && resp.ProtoMajor != 2:
		return fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	return nil
}

// waitReady polls every probe until all succeed, the process exits or the
// timeout passes.
func waitReady(p *proc, probes []probe, bodySize int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var failed error
		for _, pr := range probes {
			if err := pr.check(bodySize); err != nil {
				failed = fmt.Errorf("%s (%s): %w", pr.Name, pr.URL, err)
				break
			}
		}
		if failed == nil {
			return nil
		}
		if p != nil {
			if err := p.alive(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			logHint := ""
			if p != nil {
				logHint = fmt.Sprintf("; the end of its log %s:\n%s", p.logPath, tail(p.logPath, 20))
			}
			return fmt.Errorf("not ready after %s: %w%s", timeout, failed, logHint)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tlsParams is what an OpenSSL client (like wrk and h2load) negotiates
// with a TLS port, in one line: protocol, cipher suite, key exchange group,
// signature, ALPN. The report shows it to make the TLS work comparable.
func tlsParams(port int, alpn string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port),
		"-servername", serverName, "-alpn", alpn)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "openssl s_client failed: " + oneLine(string(out))
	}
	return parseSClient(string(out))
}

// parseSClient picks the negotiated parameters out of openssl s_client's
// output ("New, TLSv1.3, Cipher is ...", "Server Temp Key: X25519, 253
// bits", "Peer signature type: ECDSA", "ALPN protocol: h2").
func parseSClient(out string) string {
	var version, cipher, group, sig, alpn string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "New, "):
			f := strings.Split(line, ", ")
			if len(f) >= 3 {
				version, cipher = f[1], strings.TrimPrefix(f[2], "Cipher is ")
			}
		case strings.HasPrefix(line, "Server Temp Key: "):
			group, _, _ = strings.Cut(strings.TrimPrefix(line, "Server Temp Key: "), ",")
		case strings.HasPrefix(line, "Peer signature type: "):
			sig = strings.TrimPrefix(line, "Peer signature type: ")
		case strings.HasPrefix(line, "ALPN protocol: "):
			alpn = "ALPN " + strings.TrimPrefix(line, "ALPN protocol: ")
		case line == "No ALPN negotiated":
			alpn = "no ALPN"
		}
	}
	if version == "" {
		return "no TLS session: " + oneLine(out)
	}
	return strings.Join([]string{version, cipher, group, sig, alpn}, " ")
}

// backendCounts reads the backend's per-listener request counts.
func backendCounts(statsPort int) (map[string]uint64, error) {
	resp, err := loopbackClient(false).Get(fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]uint64
	return out, json.NewDecoder(resp.Body).Decode(&out)
}
