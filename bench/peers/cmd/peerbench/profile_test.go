package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchFromThePprofEndpoint: a 200 answer is written to its file or
// decoded; any other status is an error that carries what the endpoint
// said, and nothing is decoded.
func TestFetchFromThePprofEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "profiling is not enabled", http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"seconds": 2.5, "gc_cycles": 7}`))
	}))
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "answer")
	if err := fetch(srv.URL+"/ok", path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"gc_cycles": 7`) {
		t.Errorf("written %q, want the answer", b)
	}
	var v struct {
		Seconds  float64 `json:"seconds"`
		GCCycles int     `json:"gc_cycles"`
	}
	if err := fetchJSON(srv.URL+"/ok", &v); err != nil || v.Seconds != 2.5 || v.GCCycles != 7 {
		t.Errorf("decoded %+v, %v; want 2.5 s and 7 cycles", v, err)
	}
	v.GCCycles = 0
	err := fetchJSON(srv.URL+"/bad", &v)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "profiling is not enabled") {
		t.Errorf("a 404: %v, want an error with the status and the endpoint's words", err)
	}
	if v.GCCycles != 0 {
		t.Errorf("a failed answer was decoded: %+v", v)
	}
	if err := fetch(srv.URL+"/bad", path); err == nil {
		t.Error("a 404 was written as a profile")
	}
}
