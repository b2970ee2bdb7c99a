package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestH2Spec runs h2spec (github.com/summerwind/h2spec, every case,
// strict ones included) against the data plane's HTTP/2 server, h2c and
// TLS, and against net/http's bundled x/net/http2 server in front of the
// same kind of backend. A case the data plane fails must be failed by
// x/net/http2's server too: each such case is logged. H2SPEC names the
// h2spec binary; test/h2spec/run.sh builds it from the Go module proxy and
// runs this test (it is skipped without it: h2spec is not a dependency of
// the module).
func TestH2Spec(t *testing.T) {
	bin := os.Getenv("H2SPEC")
	if bin == "" {
		t.Skip("H2SPEC is not set: run test/h2spec/run.sh, which builds h2spec and runs this test")
	}
	backend := startHandlerBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", backend)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	cert, key := selfSigned(t, "127.0.0.1")
	res.Secrets["cert"] = secret("cert", cert, key)
	res.Listeners["plain"] = listener(t, "plain", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	res.Listeners["tls"] = listener(t, "tls", 0, false, chain("https", nil, tlsSocketALPN(t, []string{"h2", "http/1.1"}, "cert"), hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)

	refPlain, refTLS := startReferenceH2(t, cert, key)
	for _, tc := range []struct {
		name      string
		ours, ref string
		tls       bool
	}{
		{"h2c", p.ListenerAddr("plain").String(), refPlain, false},
		{"tls", p.ListenerAddr("tls").String(), refTLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours := runH2Spec(t, bin, tc.ours, tc.tls, "ours")
			ref := runH2Spec(t, bin, tc.ref, tc.tls, "x-net")
			t.Logf("h2spec: data plane %d cases, %d failed; x/net/http2 %d cases, %d failed", ours.cases, len(ours.failed), ref.cases, len(ref.failed))
			if ours.cases == 0 {
				t.Fatal("h2spec ran no case against the data plane")
			}
			for _, id := range ours.failed {
				if slices.Contains(ref.failed, id) {
					t.Logf("failed by both servers: %s", id)
					continue
				}
				t.Errorf("failed by the data plane only: %s", id)
			}
			for _, id := range ref.failed {
				if !slices.Contains(ours.failed, id) {
					t.Logf("failed by x/net/http2 only: %s", id)
				}
			}
		})
	}
}

// startReferenceH2 serves the same answer as the test's backend with
// net/http's own HTTP/2 server (x/net/http2, bundled), h2c and TLS.
func startReferenceH2(t *testing.T, certPEM, keyPEM []byte) (plain, tlsAddr string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	lim := DefaultLimits()
	serve := func(ln net.Listener) {
		s := &http.Server{Handler: h, Protocols: protos, ErrorLog: log.New(io.Discard, "", 0)}
		lim.applyTo(s)
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(ln)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}))
	return ln.Addr().String(), tln.Addr().String()
}

type h2SpecResult struct {
	cases  int
	failed []string // "section: description"
}

// runH2Spec runs every h2spec case against addr and reads its JUnit report.
func runH2Spec(t *testing.T, bin, addr string, useTLS bool, name string) h2SpecResult {
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(t.TempDir(), name+".xml")
	args := []string{"-h", host, "-p", port, "-S", "-o", "5", "-j", report}
	if useTLS {
		args = append(args, "-t", "-k")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if dir := os.Getenv("H2SPEC_OUT"); dir != "" {
		os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-")+"-"+name+".txt"), out, 0o644)
	}
	// h2spec exits non-zero when a case fails; the report says which.
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec against %s wrote no report (%v): %v\n%s", addr, err, rerr, out)
	}
	var suites struct {
		Suites []struct {
			Cases []struct {
				Package   string    `xml:"package,attr"`
				ClassName string    `xml:"classname,attr"`
				Failure   *struct{} `xml:"failure"`
				Error     *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(xmlText(b), &suites); err != nil {
		t.Fatalf("h2spec report %s: %v\n%s", report, err, out)
	}
	var r h2SpecResult
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			r.cases++
			if c.Failure != nil || c.Error != nil {
				r.failed = append(r.failed, c.Package+": "+c.ClassName)
			}
		}
	}
	t.Logf("%s: %s cases", name, strconv.Itoa(r.cases))
	return r
}

// xmlText replaces what XML 1.0 does not allow in a document (control
// characters, invalid UTF-8) with U+FFFD. h2spec copies what a failing
// case received, raw bytes included, into its report's failure messages,
// and encoding/xml refuses the whole report for one NUL in them (CI: "XML
// syntax error on line 43: illegal character code U+0000"), which hid
// which case had failed.
func xmlText(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20 || r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF:
			return '\uFFFD'
		}
		return r
	}, b)
}

// A report whose failure message holds a NUL, as h2spec writes it, parses
// once xmlText has replaced it; unreplaced, encoding/xml refuses it.
func TestH2SpecReportWithControlBytes(t *testing.T) {
	report := []byte("<testsuites><testsuite><testcase package=\"http2/6.9\" classname=\"case\">" +
		"<failure>Actual: DATA frame \x00\x01</failure></testcase></testsuite></testsuites>")
	var v struct {
		Cases []struct {
			Failure *struct{} `xml:"failure"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(report, &v); err == nil {
		t.Fatal("encoding/xml accepted a NUL: xmlText is no longer needed")
	}
	if err := xml.Unmarshal(xmlText(report), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) != 1 || v.Cases[0].Failure == nil {
		t.Fatalf("cases %+v, want one failed", v.Cases)
	}
}
