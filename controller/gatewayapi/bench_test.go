package gatewayapi

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// BenchmarkTranslate measures Translate (Snapshot to IR and statuses) in
// Kubernetes mode for n HTTPRoutes, the sizes of bench-scale. The Snapshot
// is generated YAML read through snapshot.Parse (CRD defaults and
// validation, as the sources do), outside the timed loop; see benchYAML for
// its shape. bench/go/README.md describes each benchmark.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 5000} {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			snap := benchSnapshot(b, n)
			b.ReportAllocs()
			report := cpuPerOp(b)
			for b.Loop() {
				out, st := Translate(snap)
				if len(out.RouteTables) == 0 || len(st.Routes) != n {
					b.Fatalf("%d route tables, %d route statuses for %d routes", len(out.RouteTables), len(st.Routes), n)
				}
			}
			report()
		})
	}
}

// benchSnapshots caches the parsed inputs: b.Run calls a benchmark function
// several times, and parsing 5000 routes takes longer than translating them.
var benchSnapshots = struct {
	sync.Mutex
	m map[int]*snapshot.Snapshot
}{m: map[int]*snapshot.Snapshot{}}

func benchSnapshot(b *testing.B, n int) *snapshot.Snapshot {
	b.Helper()
	benchSnapshots.Lock()
	defer benchSnapshots.Unlock()
	if s, ok := benchSnapshots.m[n]; ok {
		return s
	}
	cert, err := os.ReadFile("testdata/certs/wildcard.crt")
	if err != nil {
		b.Fatal(err)
	}
	key, err := os.ReadFile("testdata/certs/wildcard.key")
	if err != nil {
		b.Fatal(err)
	}
	s, err := snapshot.Parse(fmt.Sprintf("bench-%d.yaml", n), benchYAML(n, string(cert), string(key)))
	if err != nil {
		b.Fatalf("generated snapshot does not load: %v", err)
	}
	s.IsolateGateways = true
	// Every route must be served on both listeners, or the benchmark
	// would measure the rejection path.
	out, _ := Translate(s)
	served := 0
	for _, rt := range out.RouteTables {
		for _, vh := range rt.VirtualHosts {
			served += len(vh.Routes)
		}
	}
	if served != 2*n {
		b.Fatalf("generated snapshot: %d IR routes, want %d (every HTTPRoute on both listeners)", served, 2*n)
	}
	benchSnapshots.m[n] = s
	return s
}

// benchRoutesPerHost: a hostname per ten HTTPRoutes.
const benchRoutesPerHost = 10

// benchYAML is one Gateway (HTTP on 80, HTTPS on 443 for *.example.com)
// with n HTTPRoutes attached to both listeners, one hostname per ten
// routes, and one Service (three ready endpoints) per ten routes. The
// rules cycle through the shapes users write: exact and prefix paths, a
// regex, header and method conditions, a query parameter, a request header
// filter, a prefix rewrite and a 90/10 split.
func benchYAML(n int, certPEM, keyPEM string) []byte {
	services := max(1, n/benchRoutesPerHost)
	var w strings.Builder
	fmt.Fprintf(&w, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: edgeway
spec:
  controllerName: edgeway.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
  namespace: bench
spec:
  gatewayClassName: edgeway
  listeners:
  - name: http
    port: 80
    protocol: HTTP
  - name: https
    port: 443
    protocol: HTTPS
    hostname: "*.example.com"
    tls:
      certificateRefs:
      - name: bench-tls
---
apiVersion: v1
kind: Secret
metadata:
  name: bench-tls
  namespace: bench
type: kubernetes.io/tls
stringData:
  tls.crt: |
%s  tls.key: |
%s`, indent(certPEM, "    "), indent(keyPEM, "    "))
	for c := range services {
		fmt.Fprintf(&w, `---
apiVersion: v1
kind: Service
metadata:
  name: svc-%[1]d
  namespace: bench
spec:
  ports:
  - name: http
    port: 8080
    targetPort: 9090
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-%[1]d-1
  namespace: bench
  labels:
    kubernetes.io/service-name: svc-%[1]d
addressType: IPv4
ports:
- name: http
  port: 9090
endpoints:
- addresses: ["10.%[2]d.%[3]d.1"]
  conditions:
    ready: true
- addresses: ["10.%[2]d.%[3]d.2"]
  conditions:
    ready: true
- addresses: ["10.%[2]d.%[3]d.3"]
  conditions:
    ready: true
`, c, c/250, c%250)
	}
	for i := range n {
		fmt.Fprintf(&w, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-%d
  namespace: bench
spec:
  parentRefs:
  - name: bench
  hostnames: ["app%d.example.com"]
  rules:
%s`, i, i/benchRoutesPerHost, benchRule(i, services))
	}
	return []byte(w.String())
}

// benchRule is the one rule of route i.
func benchRule(i, services int) string {
	backend := fmt.Sprintf(`    backendRefs:
    - name: svc-%d
      port: 8080
`, i%services)
	switch i % benchRoutesPerHost {
	case 0, 1:
		return fmt.Sprintf(`  - matches:
    - path: {type: Exact, value: /exact%d}
`, i) + backend
	case 2:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /api%d/v1}
`, i) + backend
	case 3:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /api%d/v2}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-route, value: r%d}]
        remove: [x-debug]
`, i, i) + backend
	case 4:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /old%d}
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new%d}
`, i, i) + backend
	case 5:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /api%d}
`, i) + backend
	case 6:
		return fmt.Sprintf(`  - matches:
    - path: {type: RegularExpression, value: "/re%d/[0-9]+"}
`, i) + backend
	case 7:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /h%d}
      headers:
      - {name: x-version, value: "2"}
      method: GET
`, i) + backend
	case 8:
		return fmt.Sprintf(`  - matches:
    - path: {type: PathPrefix, value: /q%d}
      queryParams:
      - {name: debug, value: "1"}
`, i) + backend
	default:
		return fmt.Sprintf(`  - backendRefs:
    - name: svc-%d
      port: 8080
      weight: 90
    - name: svc-%d
      port: 8080
      weight: 10
`, i%services, (i+1)%services)
	}
}

func indent(s, prefix string) string {
	var w strings.Builder
	for line := range strings.Lines(s) {
		w.WriteString(prefix + line)
	}
	return w.String()
}

// cpuPerOp starts measuring the process's CPU time (user and system, every
// goroutine and the garbage collector); the returned func reports it per
// operation as cpu-ns/op. Unlike ns/op it does not grow when other
// processes compete for the cores, as they do on a shared machine.
func cpuPerOp(b *testing.B) (report func()) {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
