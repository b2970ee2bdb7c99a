package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Readiness probes run from the host against the pod IP (the bridge makes
// every pod IP reachable from the host), as the kubelet probes from the
// node. httpGet and tcpSocket are supported; exec and grpc probes are not
// run (the container counts as ready while its process runs) and the
// container's status message says so.

// probeResult is a prober's verdict.
type probeResult struct {
	ready bool
	msg   string
}

// supportedProbe reports whether the node can run p, and why not.
func supportedProbe(p *corev1.Probe) (bool, string) {
	switch {
	case p.HTTPGet != nil, p.TCPSocket != nil:
		return true, ""
	case p.Exec != nil:
		return false, "exec probes are not run on this node (the process counts as ready while it runs)"
	case p.GRPC != nil:
		return false, "grpc probes are not run on this node (the process counts as ready while it runs)"
	}
	return false, "probe has no handler"
}

// runReadiness probes until ctx ends, sending every change of verdict to
// report (the first verdict always). It honors initialDelaySeconds,
// timeoutSeconds and the thresholds; until the first success it probes
// every second at most, so a pod becomes Ready soon after it can be.
func runReadiness(ctx context.Context, p *corev1.Probe, c *corev1.Container, ip netip.Addr, report func(probeResult)) {
	delay := time.Duration(p.InitialDelaySeconds) * time.Second
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success := int(max(p.SuccessThreshold, 1))
	failure := int(max(p.FailureThreshold, 1))
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	ready, everReady := false, false
	succ, fail := 0, 0
	first := true
	for {
		err := probeOnce(ctx, p, c, ip, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			succ, fail = succ+1, 0
			if !ready && succ >= success {
				ready, everReady = true, true
				report(probeResult{ready: true})
			}
		} else {
			succ, fail = 0, fail+1
			if (ready && fail >= failure) || first {
				ready = false
				report(probeResult{ready: false, msg: "Readiness probe failed: " + err.Error()})
			}
		}
		first = false
		wait := period
		if !everReady {
			wait = min(period, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func probeOnce(ctx context.Context, p *corev1.Probe, c *corev1.Container, ip netip.Addr, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.TCPSocket != nil:
		port, err := probePort(p.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		host := ip.String()
		if p.TCPSocket.Host != "" {
			host = p.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := probePort(g.Port, c)
		if err != nil {
			return err
		}
		host := ip.String()
		if g.Host != "" {
			host = g.Host
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, h := range g.HTTPHeaders {
			if strings.EqualFold(h.Name, "Host") {
				req.Host = h.Value
			} else {
				req.Header.Add(h.Name, h.Value)
			}
		}
		tr := &http.Transport{
			// The kubelet does not verify probe targets' certificates either.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
			Proxy:             nil,
		}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	}
	return nil
}

// probePort resolves a probe's port, by number or by the name of one of the
// container's ports.
func probePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q is not a port name of container %q", p.StrVal, c.Name)
}
