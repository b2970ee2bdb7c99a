// Command netpollfifo writes a `go build -overlay` that makes the Go
// runtime's network poller hand the goroutines it wakes to the scheduler in
// the order their descriptors became ready, and prints the build flags that
// use it. `make build` and bench/peers/run.sh build the binaries that serve
// traffic (edgeway, edgeway-dataplane) with them:
//
//	flags=$(go run ./hack/netpollfifo) && go build $flags -o bin/edgeway-dataplane ./cmd/edgeway-dataplane
//
// Why: on Linux, the runtime's netpoll collects the goroutines of every
// descriptor epoll reports into a list it pushes onto at the head, so the
// list runs in the reverse of epoll's order, which is the order the
// descriptors became ready. With one P (a data plane Pod with one CPU, and
// the peer benchmark's pinning), the scheduler runs a whole batch before it
// polls again: the connection that has waited longest is served last.
// Go promises no order, so none of this is wrong; but a proxy at most of a
// core gets batches of tens of connections, and the reversal turns a wait of
// one batch into anything from nothing to two. Measured in
// bench/peers/README.md ("The network poller's order"): in plain HTTP/1.1,
// p90 and p99 about a tenth lower at the same requests per second; in TLS
// termination and HTTP/2, no difference beyond the noise.
//
// The overlay replaces the runtime's netpoll_epoll.go with a copy, made here
// from the building toolchain's own GOROOT, whose netpoll returns its list
// reversed, and adds one file to package runtime (edgeway_netpoll.go, below):
// the reversal, and a marker the program can ask for
// (dataplane/netpollorder), so that a binary says what it was built with and
// a tag without the overlay fails to link rather than lie. Nothing of Go's
// is kept in this repository: the copy is made at every build, and a
// toolchain whose netpoll no longer has the shape the edit expects is
// refused with what to do, never patched blindly.
//
// The added file also answers one question the standard runtime keeps to
// itself (edgewayPollReadPending, below; dataplane/pollready asks it):
// whether the poller was told a descriptor became readable since its last
// read. An idle pooled upstream connection that the poller heard nothing
// from needs no system call to probe it before its reuse
// (dataplane/proxy/h1alive.go). It reads the runtime's poll descriptor and
// changes nothing; the build refuses a toolchain whose descriptor is not the
// shape it reads.
//
// The copy's netpoll also records whether epoll reported the peer's FIN,
// a hang-up or an error for a descriptor: it calls edgewayNoteEvent after
// each event's error record, which writes the descriptor's user field (only
// the AIX, Solaris and WASI pollers use it), and edgewayPollHungUp reads it
// (dataplane/pollready asks it). Unlike the readiness, a read does not
// clear it: a TCP proxy that has read a burst and found the socket
// otherwise empty (TCP_INQ) parks without the read that would fail, unless
// the peer's reset came with the burst (dataplane/proxy/sockio.go, copyTo).
// The same call sets a bit of that field for every read event, which a
// reader clears before its read (edgewayPollForgetReadEvents) and asks
// after the readiness reset of its next read (edgewayPollHeardReadEvent):
// a client connection whose last read emptied the socket, and that the
// poller heard nothing from since, parks without the read that would fail
// (dataplane/proxy/sockio.go, Read).
//
// It also adds edgewayPollNetwork: a poll that does not wait, whose
// goroutines go on the caller's P, what the scheduler does only when it has
// nothing else to run. The data plane polls before a TLS handshake computes
// (dataplane/proxy/handshaketurn.go), so that the requests that arrived
// while handshakes kept the P busy go first. The build refuses a toolchain
// whose scheduler lacks what it calls.
//
// Off Linux (the kqueue and other pollers are not edited) it prints nothing
// and the build uses the standard runtime.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/edgeway/edgeway/dataplane/netpollorder"
)

// returnAnchor is the statement of netpoll_epoll.go's netpoll that returns
// the list it built; the edit wraps the list in edgewayReadinessOrder.
const returnAnchor = "\n\treturn toRun, delta\n}\n"

// eventErrAnchor is the statement of netpoll_epoll.go's netpoll that
// records an event's error on its descriptor; the edit records a hang-up
// after it (edgewayNoteEvent), for the same descriptor and registration.
const eventErrAnchor = "\n\t\t\t\tpd.setEventErr(ev.Events == linux.EPOLLERR, tag)\n"

// signature is netpoll's declaration in netpoll_epoll.go: the anchor must be
// in this function, the last statement of the file's netpoll.
const signature = "\nfunc netpoll(delay int64) (gList, int32) {\n"

// addedFile is the file the overlay adds to package runtime.
const addedFile = `// Code generated by edgeway's hack/netpollfifo at build time; it is not in
// the Go distribution. Do not edit.

package runtime

import (
	"internal/runtime/atomic"
	"internal/runtime/syscall/linux"
	"unsafe"
)

// edgewayReadinessOrder returns l reversed. netpoll builds its list of
// goroutines to wake by pushing each onto the head, so it holds them in the
// reverse of the order epoll reported their descriptors, which is the order
// the descriptors became ready; reversed, the longest-waiting goroutine runs
// first.
func edgewayReadinessOrder(l gList) gList {
	var out gList
	for !l.empty() {
		out.push(l.pop())
	}
	return out
}

// edgewayNetpollOrder says how this runtime's netpoll orders the goroutines
// it wakes; dataplane/netpollorder links it by name.
//
//go:linkname edgewayNetpollOrder
func edgewayNetpollOrder() string { return "readiness" }

// edgewayPollReadPending reports whether the poll descriptor pd (what
// internal/poll keeps as its runtimeCtx: the *pollDesc) holds a read
// notification that no reader has taken, or saw an error event, or is
// closing: whether netpoll was told the descriptor became readable since a
// reader last reset its readiness (internal/poll's prepareRead, before
// every read). One load, no system call: what an event loop knows of an
// idle connection from its last epoll_wait. dataplane/pollready links it by
// name; it must only be asked of an open descriptor.
//
//go:linkname edgewayPollReadPending
func edgewayPollReadPending(pd uintptr) bool {
	p := (*pollDesc)(unsafe.Pointer(pd))
	info := p.info()
	return p.rg.Load() == pdReady || info.eventErr() || info.closing()
}

// edgewayReadEvent is the bit of pd.user that edgewayNoteEvent sets for
// every read event and edgewayPollForgetReadEvents clears; the bits below it
// hold the hang-up record (a registration's tag, tagBits wide: 19 on
// 64-bit Linux). Where the tag takes all 32 bits, there is no room for it:
// it is 0, nothing is recorded and every question answers "heard".
const edgewayReadEvent uint32 = (1 << 31) >> (tagBits / 32 * 32)

// edgewayNoteEvent records, in pd.user (which only the AIX, Solaris and
// WASI pollers use), that epoll reported a read event for pd (readable,
// the peer's FIN, a hang-up or an error: edgewayReadEvent), and, for the
// last three, the registration's tag (the fdseq netpoll checked). netpoll
// calls it for every event of a current registration, before it wakes the
// descriptor's goroutines.
func edgewayNoteEvent(pd *pollDesc, events uint32, tag uintptr) {
	if events&(linux.EPOLLRDHUP|linux.EPOLLHUP|linux.EPOLLERR) != 0 {
		atomic.Store(&pd.user, uint32(tag)|edgewayReadEvent)
	} else if events&linux.EPOLLIN != 0 {
		atomic.Or(&pd.user, edgewayReadEvent)
	}
}

// edgewayPollHungUp reports whether netpoll was told of the peer's FIN, a
// hang-up or an error for the descriptor's current registration, or it is
// closing. A registration's tag is never 0 and pd.user starts at 0, so a
// descriptor nothing was reported for answers false; after its tag wraps
// (2^19 reuses of one descriptor), a stale record can answer true, which
// only costs the caller a read. dataplane/pollready links it by name; it
// must only be asked of an open descriptor.
//
//go:linkname edgewayPollHungUp
func edgewayPollHungUp(pd uintptr) bool {
	p := (*pollDesc)(unsafe.Pointer(pd))
	return atomic.Load(&p.user)&^edgewayReadEvent == uint32(p.fdseq.Load()) || p.info().closing()
}

// edgewayPollForgetReadEvents clears pd's read-event record. A reader calls
// it before a read, so that edgewayPollHeardReadEvent then says whether
// anything came after the read. dataplane/pollready links it by name.
//
//go:linkname edgewayPollForgetReadEvents
func edgewayPollForgetReadEvents(pd uintptr) {
	p := (*pollDesc)(unsafe.Pointer(pd))
	atomic.And(&p.user, ^edgewayReadEvent)
}

// edgewayPollHeardReadEvent reports whether netpoll reported a read event
// for pd since edgewayPollForgetReadEvents, saw an error event, or pd is
// closing. Unlike the readiness (edgewayPollReadPending), a reader's
// prepareRead does not clear it: asked after that reset, a false answer
// means that whatever arrives has its notification still to come, so the
// reader can park without trying the socket. dataplane/pollready links it
// by name; it must only be asked of an open descriptor.
//
//go:linkname edgewayPollHeardReadEvent
func edgewayPollHeardReadEvent(pd uintptr) bool {
	p := (*pollDesc)(unsafe.Pointer(pd))
	info := p.info()
	return edgewayReadEvent == 0 || atomic.Load(&p.user)&edgewayReadEvent != 0 || info.eventErr() || info.closing()
}

// edgewayPollNetwork asks epoll, without waiting, which descriptors became
// ready, and makes their goroutines runnable on this P's queue, as the
// scheduler does when it has nothing else to run (findRunnable). The
// scheduler polls only then: a P kept busy by a run of CPU-bound goroutines
// (TLS handshakes, each about 200 µs) does not learn of the requests that
// arrived meanwhile until the run ends. dataplane/pollready links it by
// name; the data plane calls it before a handshake computes, so that the
// requests already here go first, as an event loop serves its whole poll
// before the next.
//
//go:linkname edgewayPollNetwork
func edgewayPollNetwork() {
	if netpollinited() && netpollAnyWaiters() && sched.lastpoll.Load() != 0 && sched.pollingNet.Swap(1) == 0 {
		list, delta := netpoll(0)
		sched.pollingNet.Store(0)
		injectglist(&list)
		netpollAdjustWaiters(delta)
	}
}
`

// pollDescShape is what edgewayPollReadPending and the event record
// (edgewayNoteEvent, edgewayPollHungUp, edgewayPollHeardReadEvent) read and write of netpoll.go: a
// toolchain without each of these is refused, not compiled into a runtime
// that fails to build with a less helpful error.
var pollDescShape = []string{
	"\trg atomic.Uintptr",
	"\tuser    uint32",
	"\tfdseq atomic.Uintptr",
	"\tpdReady uintptr = 1",
	"\nfunc (pd *pollDesc) info() pollInfo {",
	"\nfunc (i pollInfo) eventErr() bool ",
	"\nfunc (i pollInfo) closing() bool ",
}

// pollNetworkShape is what edgewayPollNetwork calls of the scheduler and the
// poller, file by file (as findRunnable's non-blocking poll does): a
// toolchain without each of these is refused.
var pollNetworkShape = map[string][]string{
	"proc.go": {
		"sched.pollingNet.Swap(1) == 0",
		"\nfunc injectglist(glist *gList) {",
	},
	"runtime2.go": {"\tpollingNet atomic.Int32"},
	"netpoll.go": {
		"\nfunc netpollinited() bool {",
		"\nfunc netpollAnyWaiters() bool {",
		"\nfunc netpollAdjustWaiters(delta int32) {",
	},
}

func main() {
	dir := flag.String("dir", ".cache/netpollfifo", "directory to write the overlay into (a subdirectory per Go version)")
	goCmd := flag.String("go", "go", "the go command that will build (its GOROOT, GOOS and version are the ones edited)")
	tags := flag.String("tags", "", "more build tags for the printed -tags flag (comma-separated), since go build takes one -tags")
	standard := flag.Bool("standard-runtime", false, "leave the runtime as it is: print only the -also entries and -tags")
	var also replacements
	flag.Var(&also, "also", "another overlay entry, PATH=FILE: the build sees FILE at PATH (repeatable), since go build takes one -overlay")
	flag.Parse()
	var flags string
	var err error
	if *standard {
		flags, err = buildFlags(*dir, *tags, also, nil, false)
	} else {
		flags, err = run(*goCmd, *dir, *tags, also)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netpollfifo:", err)
		os.Exit(1)
	}
	fmt.Println(flags)
}

// replacements are -also's PATH=FILE entries.
type replacements map[string]string

func (r *replacements) String() string { return fmt.Sprint(map[string]string(*r)) }

func (r *replacements) Set(v string) error {
	path, file, ok := strings.Cut(v, "=")
	if !ok || path == "" || file == "" {
		return fmt.Errorf("want PATH=FILE, got %q", v)
	}
	if *r == nil {
		*r = replacements{}
	}
	(*r)[path] = file
	return nil
}

// toolchain is what the edit depends on, as `go env` reports it.
type toolchain struct {
	GOROOT, GOOS, GOVERSION string
}

func run(goCmd, dir, tags string, also replacements) (string, error) {
	tc, err := goEnv(goCmd)
	if err != nil {
		return "", err
	}
	if tc.GOOS != "linux" {
		// The other pollers are not edited; the extra entries and tags
		// still go through.
		fmt.Fprintf(os.Stderr, "netpollfifo: GOOS=%s: only Linux's epoll poller is edited; building with the standard runtime\n", tc.GOOS)
		return buildFlags(dir, tags, also, nil, false)
	}
	src := filepath.Join(tc.GOROOT, "src", "runtime", "netpoll_epoll.go")
	orig, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("reading the runtime's poller: %w", err)
	}
	edited, err := edit(orig)
	if err != nil {
		return "", fmt.Errorf("%s (%s): %w; build with the standard runtime instead (make build NETPOLL_FIFO=0), or update hack/netpollfifo for this Go version", src, tc.GOVERSION, err)
	}
	pollSrc := filepath.Join(tc.GOROOT, "src", "runtime", "netpoll.go")
	poll, err := os.ReadFile(pollSrc)
	if err != nil {
		return "", fmt.Errorf("reading the runtime's poll descriptors: %w", err)
	}
	if err := checkPollDesc(poll); err != nil {
		return "", fmt.Errorf("%s (%s): %w; build with the standard runtime instead (make build NETPOLL_FIFO=0), or update hack/netpollfifo for this Go version", pollSrc, tc.GOVERSION, err)
	}
	if err := checkPollNetwork(filepath.Join(tc.GOROOT, "src", "runtime")); err != nil {
		return "", fmt.Errorf("%w (%s); build with the standard runtime instead (make build NETPOLL_FIFO=0), or update hack/netpollfifo for this Go version", err, tc.GOVERSION)
	}
	out, err := filepath.Abs(filepath.Join(dir, tc.GOVERSION))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	files := map[string][]byte{
		"netpoll_epoll.go":   edited,
		"edgeway_netpoll.go": []byte(addedFile),
	}
	entries := map[string]string{}
	for name, body := range files {
		dst := filepath.Join(out, name)
		if err := writeIfChanged(dst, body); err != nil {
			return "", err
		}
		entries[filepath.Join(tc.GOROOT, "src", "runtime", name)] = dst
	}
	return buildFlags(out, tags, also, entries, true)
}

// edit returns netpoll_epoll.go with netpoll's list returned in readiness
// order and each event recorded (edgewayNoteEvent), or why the
// file does not have the shape the edit is for.
func edit(orig []byte) ([]byte, error) {
	start := bytes.Index(orig, []byte(signature))
	if start < 0 {
		return nil, errors.New("no func netpoll(delay int64) (gList, int32)")
	}
	// The function ends at the first closing brace at the start of a line.
	body := orig[start+len(signature):]
	end := bytes.Index(body, []byte("\n}\n"))
	if end < 0 {
		return nil, errors.New("netpoll has no end")
	}
	fn := body[:end+len("\n}\n")]
	if n := bytes.Count(fn, []byte(returnAnchor)); n != 1 {
		return nil, fmt.Errorf("netpoll does not end with exactly one %q (found %d)", strings.TrimSpace(returnAnchor), n)
	}
	if !bytes.HasSuffix(fn, []byte(returnAnchor)) {
		return nil, fmt.Errorf("%q is not netpoll's last statement", strings.TrimSpace(returnAnchor))
	}
	if bytes.Count(fn, []byte("toRun.push(")) != 0 || bytes.Count(fn, []byte("netpollready(&toRun,")) != 1 {
		return nil, errors.New("netpoll no longer builds its list with one netpollready(&toRun, ...)")
	}
	if n := bytes.Count(fn, []byte(eventErrAnchor)); n != 1 {
		return nil, fmt.Errorf("netpoll does not record an event's error with exactly one %q (found %d)", strings.TrimSpace(eventErrAnchor), n)
	}
	errAt := start + len(signature) + bytes.Index(fn, []byte(eventErrAnchor)) + len(eventErrAnchor)
	at := start + len(signature) + end + len("\n}\n") - len(returnAnchor)
	var b bytes.Buffer
	b.Write(orig[:errAt])
	b.WriteString("\t\t\t\tedgewayNoteEvent(pd, ev.Events, tag) // edgeway (hack/netpollfifo)\n")
	b.Write(orig[errAt:at])
	b.WriteString("\n\t// edgeway (hack/netpollfifo): in the order the descriptors became ready.")
	b.WriteString("\n\treturn edgewayReadinessOrder(toRun), delta\n}\n")
	b.Write(orig[at+len(returnAnchor):])
	return b.Bytes(), nil
}

// checkPollNetwork reports what of pollNetworkShape the runtime's sources in
// dir lack.
func checkPollNetwork(dir string) error {
	for _, name := range []string{"proc.go", "runtime2.go", "netpoll.go"} {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("reading the runtime's %s: %w", name, err)
		}
		for _, want := range pollNetworkShape[name] {
			if !bytes.Contains(src, []byte(want)) {
				return fmt.Errorf("%s: no %q: the scheduler is not the shape edgewayPollNetwork calls", filepath.Join(dir, name), strings.TrimSpace(want))
			}
		}
	}
	return nil
}

// checkPollDesc reports what of pollDescShape netpoll.go lacks.
func checkPollDesc(src []byte) error {
	for _, want := range pollDescShape {
		if !bytes.Contains(src, []byte(want)) {
			return fmt.Errorf("no %q: the poll descriptor is not the shape edgewayPollReadPending reads", strings.TrimSpace(want))
		}
	}
	return nil
}

// buildFlags writes the overlay file (when there are entries) and returns
// the go build flags for it and the tags.
func buildFlags(dir, tags string, also replacements, entries map[string]string, patched bool) (string, error) {
	replace := map[string]string{}
	for k, v := range entries {
		replace[k] = v
	}
	for k, v := range also {
		abs, err := filepath.Abs(v)
		if err != nil {
			return "", err
		}
		replace[k] = abs
	}
	var all []string
	if tags != "" {
		all = append(all, tags)
	}
	if patched {
		all = append(all, netpollorder.Tag)
	}
	var flags []string
	if len(replace) > 0 {
		body, err := json.MarshalIndent(struct{ Replace map[string]string }{replace}, "", "  ")
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		// A name per content, so that two builds with different -also
		// entries never read each other's overlay.
		h := fnv.New64a()
		h.Write(body)
		path, err := filepath.Abs(filepath.Join(dir, fmt.Sprintf("overlay-%x.json", h.Sum64())))
		if err != nil {
			return "", err
		}
		if err := writeIfChanged(path, append(body, '\n')); err != nil {
			return "", err
		}
		flags = append(flags, "-overlay="+path)
	}
	if len(all) > 0 {
		flags = append(flags, "-tags="+strings.Join(all, ","))
	}
	for _, f := range flags {
		if strings.ContainsAny(f, " \t\n'\"\\$`") {
			return "", fmt.Errorf("%s: the printed flags are split on spaces by the shell; use a directory without spaces or quotes (-dir)", f)
		}
	}
	return strings.Join(flags, " "), nil
}

// writeIfChanged keeps the file's modification time when its content is
// the same, so the go command's cache sees nothing new.
func writeIfChanged(path string, body []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, body) {
		return nil
	}
	// A temporary file of its own, renamed into place: two builds at once
	// (make -j) never read a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func goEnv(goCmd string) (toolchain, error) {
	cmd := exec.Command(goCmd, "env", "-json", "GOROOT", "GOOS", "GOVERSION")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return toolchain{}, fmt.Errorf("%s env: %w", goCmd, err)
	}
	var tc toolchain
	if err := json.Unmarshal(out, &tc); err != nil {
		return toolchain{}, fmt.Errorf("%s env -json: %w", goCmd, err)
	}
	if tc.GOROOT == "" || tc.GOOS == "" || tc.GOVERSION == "" {
		return toolchain{}, fmt.Errorf("%s env: GOROOT, GOOS or GOVERSION is empty", goCmd)
	}
	return tc, nil
}
