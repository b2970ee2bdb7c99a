package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubelet API, as much of it as `kubectl logs` and `kubectl get
// --raw /api/v1/nodes/<node>/proxy/pods` need: GET /containerLogs/{ns}/{pod}/{container},
// GET /pods and GET /healthz, over TLS on InternalIP:KubeletPort.
//
// The API server reaches it for pods/log with a client that skips
// verification of the kubelet's certificate when kube-apiserver has no
// --kubelet-certificate-authority (the envtest default), and presents no
// client certificate unless given --kubelet-client-certificate. So the
// server has a self-signed certificate and does not ask for client
// certificates; instead it answers only connections from the host itself
// (remote address = the InternalIP or loopback): a pod, whose traffic comes
// from its pod IP, cannot read other pods' logs.

type kubeletServer struct {
	n   *Node
	srv *http.Server
	ln  net.Listener
}

func startKubeletServer(n *Node) (*kubeletServer, error) {
	cert, err := selfSignedCert(n.name, n.ip)
	if err != nil {
		return nil, fmt.Errorf("node: kubelet API certificate: %w", err)
	}
	addr := net.JoinHostPort(n.ip.String(), strconv.Itoa(n.cfg.KubeletPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: kubelet API: listen on %s: %w (another node or kubelet on this address?)", addr, err)
	}
	s := &kubeletServer{n: n, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.containerLogs)
	mux.HandleFunc("GET /pods", s.pods)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("%s %s: the edgeway local node serves /containerLogs, /pods and /healthz only (no exec, attach, port-forward, stats or metrics)", r.Method, r.URL.Path), http.StatusNotFound)
	})
	s.srv = &http.Server{
		Handler:           s.hostOnly(mux),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("kubelet API stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *kubeletServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}

// hostOnly refuses requests that do not come from the host itself.
func (s *kubeletServer) hostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !(ap.Addr().Unmap() == s.n.ip || ap.Addr().IsLoopback()) {
			http.Error(w, "the kubelet API of the edgeway local node answers the host only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// worker finds the pod worker of ns/name (the live one if an old pod of the
// same name is still being stopped).
func (s *kubeletServer) worker(ns, name string) *podWorker {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	var found *podWorker
	for _, w := range s.n.workers {
		if w.key != ns+"/"+name {
			continue
		}
		pod, deleted := w.snapshot()
		if found == nil || (!deleted && pod != nil && pod.DeletionTimestamp == nil) {
			found = w
		}
	}
	return found
}

func (s *kubeletServer) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	pw := s.worker(ns, name)
	if pw == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not running on node %s", ns, name, s.n.name), http.StatusNotFound)
		return
	}
	pod, _ := pw.snapshot()
	if containerNamed(pod, container) == nil {
		http.Error(w, fmt.Sprintf("container %q is not valid for pod %s/%s", container, ns, name), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	opts := logOptions{tailLines: -1}
	var err error
	opts.follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	previous, _ := strconv.ParseBool(q.Get("previous"))
	if v := q.Get("tailLines"); v != "" {
		if opts.tailLines, err = strconv.ParseInt(v, 10, 64); err != nil || opts.tailLines < 0 {
			http.Error(w, "tailLines must be a non-negative integer", http.StatusBadRequest)
			return
		}
	}
	if v := q.Get("limitBytes"); v != "" {
		if opts.limitBytes, err = strconv.ParseInt(v, 10, 64); err != nil || opts.limitBytes <= 0 {
			http.Error(w, "limitBytes must be a positive integer", http.StatusBadRequest)
			return
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			http.Error(w, "sinceSeconds must be a positive integer", http.StatusBadRequest)
			return
		}
		opts.since = time.Now().Add(-time.Duration(secs) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "sinceTime must be RFC 3339", http.StatusBadRequest)
			return
		}
		opts.since = t
	}
	path, idx, ok := pw.logFor(container, previous)
	if !ok {
		what := "has not started yet"
		if previous {
			what = "has no previous terminated instance"
		}
		http.Error(w, fmt.Sprintf("container %q in pod %s/%s %s", container, ns, name, what), http.StatusBadRequest)
		return
	}
	done := pw.logDone(container, idx)
	w.Header().Set("Content-Type", "text/plain")
	rc := http.NewResponseController(w)
	var out interface{ Write([]byte) (int, error) } = w
	if opts.follow {
		out = flushWriter{w, rc}
	}
	if err := serveLog(r.Context(), out, path, opts, done, func() { _ = rc.Flush() }); err != nil && r.Context().Err() == nil {
		s.n.log.Warn("serve container log", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// logFor returns the log file of the container's current (or previous)
// instance and its index.
func (w *podWorker) logFor(container string, previous bool) (string, int, bool) {
	entries, err := os.ReadDir(filepath.Join(w.dir, "logs", container))
	if err != nil {
		return "", 0, false
	}
	var idx []int
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log")); err == nil {
			idx = append(idx, n)
		}
	}
	if len(idx) == 0 {
		return "", 0, false
	}
	last := idx[0]
	for _, i := range idx {
		last = max(last, i)
	}
	if previous {
		last--
		if last < 0 {
			return "", 0, false
		}
	}
	p := logPath(filepath.Join(w.dir, "logs"), container, int32(last))
	if _, err := os.Stat(p); err != nil {
		return "", 0, false
	}
	return p, last, true
}

// logDone is closed when the log of that instance is complete.
func (w *podWorker) logDone(container string, idx int) <-chan struct{} {
	w.mu.Lock()
	lf := w.logsReady[container+"/"+strconv.Itoa(idx)]
	w.mu.Unlock()
	if lf == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return lf.done
}

// pods answers GET /pods: the Pods this node runs.
func (s *kubeletServer) pods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	s.n.mu.Lock()
	for _, pw := range s.n.workers {
		if pod, _ := pw.snapshot(); pod != nil {
			list.Items = append(list.Items, *pod)
		}
	}
	s.n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&list)
}

// selfSignedCert makes the kubelet API's serving certificate, as a kubelet
// without --tls-cert-file does.
func selfSignedCert(name string, ip netip.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name + "@" + strconv.FormatInt(now.Unix(), 10)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IP(ip.AsSlice())},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
