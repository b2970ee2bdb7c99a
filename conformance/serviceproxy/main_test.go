package serviceproxy_test

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgeway/edgeway/conformance/podnet"
)

// The test binary doubles as the backends the tests run in pods: with
// SERVICEPROXY_TEST_ROLE=echo it serves TCP and UDP echo (see echo).
const (
	envRole = "SERVICEPROXY_TEST_ROLE"
	envName = "SERVICEPROXY_TEST_NAME"
)

// The echo backend's ports.
const (
	echoTCPPort  = 9000
	echoUDPPort  = 9001
	otherTCPPort = 9002 // a second TCP port, to tell ports apart by name
)

// testRootBase holds one podnet state root per test process (<base>/<pid>),
// so a later run cleans up after one that was killed.
const testRootBase = "/run/edgeway-serviceproxy-test"

var testRoot = filepath.Join(testRootBase, strconv.Itoa(os.Getpid()))

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "echo":
		echo(os.Getenv(envName))
	case "":
		if os.Geteuid() != 0 {
			// make test-unit (-short) runs without root: skip, as the
			// end-to-end tests do.
			if flag.Parse(); testing.Short() {
				fmt.Println("serviceproxy: skipped in -short mode (the tests need root)")
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "serviceproxy tests create network namespaces and host addresses: run them as root")
			os.Exit(1)
		}
		podnet.SweepDeadProcessRoots(testRootBase)
		code := m.Run()
		os.Remove(testRoot)
		os.Remove(testRootBase) // only when no other test process uses it
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// echo serves, inside a pod, TCP on echoTCPPort and otherTCPPort (a line
// "name=<name> port=<port> from=<client IP>", then everything the client
// sends, and a half-close once the client half-closes) and UDP on
// echoUDPPort (one datagram "name=<name> port=<port> from=<client IP>
// data=<payload>" per datagram). It prints "ready" once all three listen.
func echo(name string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, port := range []int{echoTCPPort, otherTCPPort} {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: port})
		if err != nil {
			fail(err)
		}
		go func() {
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					fail(err)
				}
				go func() {
					defer c.Close()
					from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
					fmt.Fprintf(c, "name=%s port=%d from=%s\n", name, port, from)
					if _, err := io.Copy(c, c); err == nil {
						c.CloseWrite() // the client half-closed: so do we
					}
				}()
			}
		}()
	}
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{Port: echoUDPPort})
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	buf := make([]byte, 65536)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			fail(err)
		}
		reply := fmt.Sprintf("name=%s port=%d from=%s data=%s", name, echoUDPPort, from.Addr().Unmap(), buf[:n])
		uc.WriteToUDPAddrPort([]byte(reply), from)
	}
}
