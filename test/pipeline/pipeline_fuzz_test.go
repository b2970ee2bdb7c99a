// Package pipeline holds the contract between the controller's two
// translations and the data plane: a configuration the loader accepts
// (every object valid against its CRD, as the API server would have it)
// becomes xDS resources that the data plane compiles and binds. A
// translation that published something the data plane refuses would stop
// every later change of that data plane (standalone: of every Gateway)
// until the input is fixed; an invalid input is meant to cost only the
// object that is wrong, through its status.
package pipeline

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
)

// FuzzAcceptedConfigurationCompiles parses arbitrary YAML as a standalone
// configuration file; whatever the loader accepts is translated as
// standalone runs it (one data plane for every Gateway) and as Kubernetes
// runs it (Gateways isolated, one data plane each), and every data plane's
// resources must pass xDS translation, the wire, the data plane's compiler
// and its socket check: no two listeners on one socket, none whose port
// another listener's address takes too. Seeds: the translator's golden
// inputs and the examples.
func FuzzAcceptedConfigurationCompiles(f *testing.F) {
	for _, in := range seeds(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(checkAccepted)
}

// checkAccepted is the fuzz targets' check of one configuration file.
func checkAccepted(t *testing.T, data []byte) {
	snap, err := snapshot.Parse("fuzz.yaml", data)
	if err != nil {
		return // refused with file, line and reason: the loader's tests
	}
	for _, isolated := range []bool{false, true} {
		snap.IsolateGateways = isolated
		x, _ := gatewayapi.Translate(snap)
		parts := map[string]*ir.IR{"standalone": x}
		if isolated {
			parts = ir.SplitByGateway(x)
		}
		for node, part := range parts {
			if err := dataplaneAccepts(part); err != nil {
				t.Errorf("isolated=%v, data plane %s: %v\n%s", isolated, node, err, data)
			}
		}
	}
}

// seeds are the translator's golden inputs and the examples.
func seeds(t testing.TB) []string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	ins, err := filepath.Glob(filepath.Join(root, "controller", "gatewayapi", "testdata", "*.in.yaml"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in controller/gatewayapi/testdata: %v", err)
	}
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "*", "*.yaml"))
	return append(ins, examples...)
}

// dataplaneAccepts is what publishing x to a data plane comes to: xDS
// translation, the wire, the compiler, and the checks its swap makes
// before it binds.
func dataplaneAccepts(x *ir.IR) error {
	res, err := xds.Translate(x)
	if err != nil {
		return fmt.Errorf("xDS translation refused the IR: %w", err)
	}
	r, err := overTheWire(res)
	if err != nil {
		return err
	}
	cfg, err := config.Compile(r)
	if err != nil {
		return fmt.Errorf("the data plane would refuse it: %w", err)
	}
	return socketsBindable(cfg)
}

// overTheWire encodes every resource and decodes it as the data plane's
// xDS client does, into the compiler's input.
func overTheWire(res map[resource.Type][]types.Resource) (*config.Resources, error) {
	r := &config.Resources{}
	for typ, list := range res {
		for _, m := range list {
			b, err := proto.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("%s cannot be encoded: %w", typ, err)
			}
			out := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, out); err != nil {
				return nil, fmt.Errorf("%s cannot be decoded: %w", typ, err)
			}
			if err := r.Add(out); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// socketsBindable is the data plane's check before it binds (two
// listeners on one socket refuse the configuration) and the host's (a
// wildcard address takes its port on every address, so a second listener
// of the same transport on that port cannot bind).
func socketsBindable(cfg *config.Config) error {
	type sock struct {
		name, host, port string
		udp              bool
	}
	var socks []sock
	for _, n := range slices.Sorted(maps.Keys(cfg.Listeners)) {
		l := cfg.Listeners[n]
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			return fmt.Errorf("listener %q: address %q: %w", n, l.Address, err)
		}
		s := sock{name: n, host: host, port: port, udp: l.UDP != nil}
		for _, o := range socks {
			if o.port != s.port || o.udp != s.udp {
				continue
			}
			if takesPort(o.host, s.host) || takesPort(s.host, o.host) {
				return fmt.Errorf("listeners %q (%s) and %q (%s) cannot both be bound", o.name, net.JoinHostPort(o.host, o.port), n, l.Address)
			}
		}
		socks = append(socks, s)
	}
	return nil
}

// takesPort is the kernel's rule, stated here independently of the
// translator's: a socket bound to address a holds its port for address b
// when they are the same address, or a is the unspecified address of b's
// family, or a is "::" (dual-stack, as Go binds it).
func takesPort(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia == nil || ib == nil {
		return a == b
	}
	switch {
	case ia.Equal(ib):
		return true
	case !ia.IsUnspecified():
		return false
	case ia.To4() == nil: // "::"
		return true
	default: // "0.0.0.0"
		return ib.To4() != nil
	}
}
