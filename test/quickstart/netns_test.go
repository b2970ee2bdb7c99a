package quickstart

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// privateNet is a network namespace of the test's own, with only its
// loopback up, and one OS thread inside it: everything that must happen in
// the namespace (starting the quickstart, dialing it) runs on that thread.
// The quickstart binds fixed ports (8080, 8443, 9000, 9443, 9101-9105,
// 18000, 19000); in here they are free whatever runs on the machine,
// `make run` included, and nothing the test does reaches another address.
type privateNet struct {
	calls chan func()
}

func newPrivateNet() (*privateNet, error) {
	n := &privateNet{calls: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when the goroutine ends, its thread (still in
		// the namespace) ends with it, so no other goroutine runs there.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("a private network namespace: unshare: %w (run the test as root)", err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			errc <- fmt.Errorf("bringing up the namespace's loopback: %w", err)
			return
		}
		errc <- nil
		for f := range n.calls {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return n, nil
}

// do runs f on the thread inside the namespace.
func (n *privateNet) do(f func()) {
	done := make(chan struct{})
	n.calls <- func() { f(); close(done) }
	<-done
}

// start starts cmd inside the namespace: a child forked from that thread
// inherits its network namespace.
func (n *privateNet) start(cmd *exec.Cmd) (err error) {
	n.do(func() { err = cmd.Start() })
	return err
}

// dial connects to 127.0.0.1:port of the namespace, whatever host addr
// names (as curl --resolve does for the quickstart's names). The socket is
// created on the namespace's thread; once made, it is used from anywhere.
func (n *privateNet) dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n.do(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	})
	return c, err
}

// close ends the namespace's thread; the namespace goes once the
// processes started in it have exited.
func (n *privateNet) close() { close(n.calls) }
