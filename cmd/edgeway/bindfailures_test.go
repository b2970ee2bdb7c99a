package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// bindErr binds addr as the data plane would while held is bound, for a
// real BindError.
func bindErr(t *testing.T, listener, addr string, udp bool) proxy.BindError {
	t.Helper()
	var err error
	if udp {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	if err == nil {
		t.Fatalf("%s bound; the test holds it", addr)
	}
	return proxy.BindError{Listener: listener, Address: addr, UDP: udp, Err: err}
}

// TestUnbindableSockets: the data plane's bind failures become the
// Snapshot's (canonical address, the system's reason without the address
// again), each once; a socket is dropped once it binds, and run publishes
// again then, not before.
func TestUnbindableSockets(t *testing.T) {
	heldTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer heldTCP.Close()
	heldUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer heldUDP.Close()
	tcpAddr, udpAddr := heldTCP.Addr().String(), heldUDP.LocalAddr().String()
	tcpPort, udpPort := heldTCP.Addr().(*net.TCPAddr).Port, heldUDP.LocalAddr().(*net.UDPAddr).Port

	u := &unbindableSockets{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if u.add(nil) {
		t.Error("add(nil) reported something new")
	}
	tcpFail, udpFail := bindErr(t, "a", tcpAddr, false), bindErr(t, "b", udpAddr, true)
	if !u.add([]proxy.BindError{tcpFail, udpFail}) {
		t.Fatal("add of two failures reported nothing new")
	}
	// The same sockets again (a second refusal naming them) are not new;
	// an address that is not an IP is not kept.
	if u.add([]proxy.BindError{tcpFail, {Listener: "c", Address: "localhost:80", Err: errors.New("x")}}) {
		t.Error("a known socket was taken for a new one")
	}
	want := []snapshot.BindFailure{
		{Address: "127.0.0.1", Port: uint32(tcpPort), Error: "bind: address already in use"},
		{Address: "127.0.0.1", Port: uint32(udpPort), UDP: true, Error: "bind: address already in use"},
	}
	if got := u.list(); !slices.Equal(got, want) {
		t.Fatalf("list = %+v, want %+v", got, want)
	}
	if u.retry() {
		t.Error("retry freed a socket that is still held")
	}

	republished := make(chan struct{}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go u.run(ctx, 20*time.Millisecond, func() { republished <- struct{}{} })
	select {
	case <-republished:
		t.Fatal("published again while both sockets are held")
	case <-time.After(100 * time.Millisecond):
	}
	heldTCP.Close()
	select {
	case <-republished:
	case <-time.After(5 * time.Second):
		t.Fatal("not published again after the TCP port was let go")
	}
	if got := u.list(); !slices.Equal(got, want[1:]) {
		t.Errorf("list once the TCP port is free = %+v, want %+v", got, want[1:])
	}
	heldUDP.Close()
	select {
	case <-republished:
	case <-time.After(5 * time.Second):
		t.Fatal("not published again after the UDP port was let go")
	}
	if got := u.list(); len(got) != 0 {
		t.Errorf("list once both are free = %+v", got)
	}
}

func TestBindFailureAddress(t *testing.T) {
	f, ok := bindFailure(proxy.BindError{Address: "[0:0:0:0:0:0:0:1]:8443", Err: errors.New("bind: cannot assign requested address")})
	if !ok || f.Address != "::1" || f.Port != 8443 || f.Error != "bind: cannot assign requested address" {
		t.Errorf("bindFailure = %+v, %v", f, ok)
	}
}

// fakeXDSClient is the xDS client's state as staleRefusalResync reads it.
type fakeXDSClient struct {
	stats   xdsclient.Stats
	resyncs chan struct{}
}

func (f *fakeXDSClient) Stats() xdsclient.Stats { return f.stats }
func (f *fakeXDSClient) Resync()                { f.resyncs <- struct{}{} }

// TestStaleRefusalResync: after the publication without the failed
// sockets, the endpoints' refused version is still the published one. The
// new stream waits until the data plane holds the publication's listeners
// (asked for earlier, the endpoints would be refused again with the old
// listeners, for good), then is opened once; with no refused type left at
// its published version, none is.
func TestStaleRefusalResync(t *testing.T) {
	const lds, eds = "listeners", "endpoints"
	published := map[string]string{lds: "L2", eds: "E2"}
	fake := &fakeXDSClient{resyncs: make(chan struct{}, 4), stats: xdsclient.Stats{
		Versions: map[string]string{lds: "L1-with-the-failed-socket", eds: "E1"},
		Rejected: map[string]xdsclient.Rejection{eds: {Version: "E2", Error: "cannot bind"}},
	}}
	r := &staleRefusalResync{client: fake, published: func() map[string]string { return published }}
	resynced := func() bool {
		select {
		case <-fake.resyncs:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}

	r.check() // not armed: nothing
	r.arm()   // the data plane still holds L1
	if resynced() {
		t.Fatal("resynced before the data plane took the new listeners")
	}
	fake.stats.Versions[lds] = "L2"
	r.check()
	if !resynced() {
		t.Fatal("no resync once the refused endpoints were the only type not in force")
	}
	r.check()
	if resynced() {
		t.Error("resynced twice for one publication")
	}

	// A publication that changed every refused type needs no new stream.
	published = map[string]string{lds: "L3", eds: "E3"}
	fake.stats.Versions = map[string]string{lds: "L3", eds: "E3"}
	fake.stats.Rejected = map[string]xdsclient.Rejection{}
	r.arm()
	r.check()
	if resynced() {
		t.Error("resynced with nothing refused")
	}
}
