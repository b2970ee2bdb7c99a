package main

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The edit applies to the runtime of the toolchain running the tests: the
// one `make build` uses. A Go release that reshapes netpoll fails here first.
func TestEditsThisToolchainsPoller(t *testing.T) {
	tc, err := goEnv("go")
	if err != nil {
		t.Fatal(err)
	}
	if tc.GOOS != "linux" {
		t.Skipf("GOOS=%s: only Linux's poller is edited", tc.GOOS)
	}
	orig, err := os.ReadFile(filepath.Join(tc.GOROOT, "src", "runtime", "netpoll_epoll.go"))
	if err != nil {
		t.Fatal(err)
	}
	edited, err := edit(orig)
	if err != nil {
		t.Fatalf("%s: %v", tc.GOVERSION, err)
	}
	if strings.Contains(string(edited), returnAnchor) || strings.Count(string(edited), "return edgewayReadinessOrder(toRun), delta") != 1 {
		t.Fatalf("netpoll's return was not replaced exactly once")
	}
	if strings.Count(string(edited), eventErrAnchor+"\t\t\t\tedgewayNoteHangup(pd, ev.Events, tag)") != 1 {
		t.Fatalf("the hang-up record does not follow the event's error record exactly once")
	}
	if len(edited) <= len(orig) || !strings.HasPrefix(string(edited), string(orig[:strings.Index(string(orig), signature)])) {
		t.Fatalf("the edit changed more than netpoll's end")
	}
	for name, src := range map[string][]byte{"netpoll_epoll.go": edited, "edgeway_netpoll.go": []byte(addedFile)} {
		if _, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments); err != nil {
			t.Fatalf("%s does not parse: %v", name, err)
		}
	}
}

// The poll descriptor edgewayPollReadPending reads has the shape it expects
// in this toolchain, and a descriptor without one of its parts is refused.
func TestPollDescriptorShape(t *testing.T) {
	tc, err := goEnv("go")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(tc.GOROOT, "src", "runtime", "netpoll.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPollDesc(src); err != nil {
		t.Fatalf("%s: %v", tc.GOVERSION, err)
	}
	for _, part := range pollDescShape {
		without := strings.Replace(string(src), part, "\n// removed\n", 1)
		if err := checkPollDesc([]byte(without)); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(part)) {
			t.Errorf("netpoll.go without %q: %v, want refused naming it", part, err)
		}
	}
}

// The scheduler's parts edgewayPollNetwork calls are in this toolchain, and
// a runtime without one of them is refused, naming it.
func TestPollNetworkShape(t *testing.T) {
	tc, err := goEnv("go")
	if err != nil {
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(tc.GOROOT, "src", "runtime")
	if err := checkPollNetwork(runtimeDir); err != nil {
		t.Fatalf("%s: %v", tc.GOVERSION, err)
	}
	for name, parts := range pollNetworkShape {
		for _, part := range parts {
			dir := t.TempDir()
			for _, f := range []string{"proc.go", "runtime2.go", "netpoll.go"} {
				src, err := os.ReadFile(filepath.Join(runtimeDir, f))
				if err != nil {
					t.Fatal(err)
				}
				if f == name {
					src = []byte(strings.Replace(string(src), part, "\n// removed\n", 1))
				}
				if err := os.WriteFile(filepath.Join(dir, f), src, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := checkPollNetwork(dir); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(part)) {
				t.Errorf("%s without %q: %v, want refused naming it", name, part, err)
			}
		}
	}
}

func TestEditRefusesAnotherShape(t *testing.T) {
	cases := map[string]string{
		"no netpoll":         "package runtime\n\nfunc other() {}\n",
		"another return":     "package runtime\n" + strings.TrimPrefix(signature, "\n") + "\tvar toRun gList\n\tnetpollready(&toRun, nil, 0)\n\treturn toRun, 0\n}\n",
		"list built by hand": "package runtime\n" + strings.TrimPrefix(signature, "\n") + "\tvar toRun gList\n\tdelta := int32(0)\n\ttoRun.push(nil)" + returnAnchor,
		"no error record":    "package runtime\n" + strings.TrimPrefix(signature, "\n") + "\tvar toRun gList\n\tdelta := int32(0)\n\tnetpollready(&toRun, nil, 0)" + returnAnchor,
		"return not last":    "package runtime\n" + strings.TrimPrefix(signature, "\n") + "\tvar toRun gList\n\tdelta := int32(0)\n\tnetpollready(&toRun, nil, 0)\n\tif delta > 0 {" + strings.TrimSuffix(returnAnchor, "}\n") + "\t}\n\treturn gList{}, 0\n}\n",
	}
	for name, src := range cases {
		if _, err := edit([]byte(src)); err == nil {
			t.Errorf("%s: edited, want refused", name)
		}
	}
}

// The printed flags name an overlay that replaces the runtime's poller and
// adds the marker, plus the -also entries; and the tag.
func TestFlagsNameTheOverlayAndTag(t *testing.T) {
	dir := t.TempDir()
	extra := filepath.Join(dir, "extra.go")
	flags, err := run("go", dir, "peerbench_pprof", replacements{"/src/cmd/x/zz.go": extra})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := goEnv("go")
	if err != nil {
		t.Fatal(err)
	}
	if tc.GOOS != "linux" {
		t.Skipf("GOOS=%s", tc.GOOS)
	}
	var overlay string
	for _, f := range strings.Fields(flags) {
		if v, ok := strings.CutPrefix(f, "-overlay="); ok {
			overlay = v
		}
	}
	if !strings.Contains(flags, "-tags=peerbench_pprof,edgeway_netpollfifo") || overlay == "" {
		t.Fatalf("flags %q", flags)
	}
	body, err := os.ReadFile(overlay)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(tc.GOROOT, "src", "runtime")
	for path, want := range map[string]string{
		filepath.Join(runtimeDir, "netpoll_epoll.go"):   "edgewayReadinessOrder(toRun)",
		filepath.Join(runtimeDir, "edgeway_netpoll.go"): "func edgewayNetpollOrder() string",
		// The same file: the second function it adds.
		filepath.Join(runtimeDir, "edgeway_netpoll.go") + " ": "func edgewayPollReadPending(pd uintptr) bool",
	} {
		path = strings.TrimSuffix(path, " ")
		got, err := os.ReadFile(o.Replace[path])
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("overlay entry %s -> %q: %v, want a file with %q", path, o.Replace[path], err, want)
		}
	}
	if o.Replace["/src/cmd/x/zz.go"] != extra {
		t.Errorf("-also entry: %q", o.Replace["/src/cmd/x/zz.go"])
	}
	// The same call again gives the same flags (the file is named by its content).
	again, err := run("go", dir, "peerbench_pprof", replacements{"/src/cmd/x/zz.go": extra})
	if err != nil || again != flags {
		t.Fatalf("second run: %q, %v; first %q", again, err, flags)
	}
}
