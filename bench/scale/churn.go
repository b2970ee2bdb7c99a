package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The churn's routes besides the size's own: flip routes always exist and
// must always answer 200 while their backend moves between echo-a and
// echo-b; churning routes are created, moved and deleted, and may answer
// 200 or 404. Routes to echo-b come and go, so echo-b's cluster comes and
// goes with them: a route must never reach the data plane before the
// cluster it names (the cause of 503s during churn elsewhere).
const (
	flipRoutes     = 10
	churningRoutes = 20
	// stableSample is how many of the size's own routes the load asks for.
	stableSample = 50
	// maxErrorRecords bounds churn_errors.csv.
	maxErrorRecords = 2000
)

// churnResult counts what the load got while routes churned.
type churnResult struct {
	Duration time.Duration
	Routes   int // routes present besides the churn's own

	Writes      map[string]int // route writes by kind
	WriteErrors int
	// What the writes became: controller translations and data plane
	// configuration swaps during the churn (-1: not read).
	Translations, ConfigSwaps int

	Requests    map[string]int // by target ("gateway", "pod")
	StableOK    int
	ChurningOK  int            // 200 or 404
	Unexpected  map[string]int // "stable 503", "churning 500", ... by target
	ConnErrors  map[string]int // by target
	ServerClose int            // answers with Connection: close (not errors)
	Records     []churnRecord
}

// Errors is every answer that was not expected, and every connection
// error: the target is zero.
func (r *churnResult) Errors() int {
	n := 0
	for _, v := range r.Unexpected {
		n += v
	}
	for _, v := range r.ConnErrors {
		n += v
	}
	return n
}

type churnRecord struct {
	At     time.Duration
	Target string
	Host   string
	Class  string // stable or churning
	What   string // the status or the error
}

// runChurn creates the flip routes, then for duration writes routes at
// writesPerSec (create, delete or move a churning route; move a flip
// route) while conns connections ask for stable and churning hostnames
// as fast as they are answered, half of them through the Gateway's
// address and half to the data plane pod directly (so that an error can
// be told apart from one of the local load balancer).
func runChurn(ctx context.Context, c client.Client, e *env, stable []string, conns int, writesPerSec float64, duration time.Duration) (*churnResult, error) {
	var flips []string
	for i := range flipRoutes {
		flips = append(flips, routeName(prefixFlip, i))
	}
	if err := createRoutes(ctx, c, flips, echoA, 8); err != nil {
		return nil, err
	}
	p := newProber(e.gatewayAddr, 80)
	defer p.close()
	if _, err := waitServed(ctx, p, flips, echoA, 2*time.Minute); err != nil {
		return nil, err
	}
	var churning []string
	for i := range churningRoutes {
		churning = append(churning, routeName(prefixChurn, i))
	}
	stableHosts := make([]string, 0, len(stable)+len(flips))
	for _, n := range append(append([]string{}, stable...), flips...) {
		stableHosts = append(stableHosts, hostOf(n))
	}
	churningHosts := make([]string, len(churning))
	for i, n := range churning {
		churningHosts[i] = hostOf(n)
	}

	res := &churnResult{
		Duration: duration, Writes: map[string]int{}, Requests: map[string]int{},
		Unexpected: map[string]int{}, ConnErrors: map[string]int{},
	}
	var mu sync.Mutex
	start := time.Now()
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range conns {
		target, addr := "gateway", netip.AddrPortFrom(e.gatewayAddr, 80)
		if i%2 == 1 {
			target, addr = "pod", netip.AddrPortFrom(e.dataplane.ip, 80)
		}
		wg.Go(func() {
			rc := newRawConn(addr.String())
			defer rc.close()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for n := 0; lctx.Err() == nil; n++ {
				class, host := "stable", stableHosts[rng.IntN(len(stableHosts))]
				if n%2 == 1 {
					class, host = "churning", churningHosts[rng.IntN(len(churningHosts))]
				}
				status, err := rc.get(host)
				closed := err == nil && rc.conn == nil
				mu.Lock()
				res.Requests[target]++
				var what string
				switch {
				case err != nil:
					res.ConnErrors[target]++
					what = err.Error()
				case class == "stable" && status == 200:
					res.StableOK++
				case class == "churning" && (status == 200 || status == 404):
					res.ChurningOK++
				default:
					res.Unexpected[fmt.Sprintf("%s %d via %s", class, status, target)]++
					what = fmt.Sprint(status)
				}
				if closed {
					res.ServerClose++
				}
				if what != "" && len(res.Records) < maxErrorRecords {
					res.Records = append(res.Records, churnRecord{At: time.Since(start), Target: target, Host: host, Class: class, What: what})
				}
				mu.Unlock()
			}
		})
	}

	// The writer: one route write at a time, paced.
	present := map[string]string{} // churning route -> its backend
	flipBackend := map[string]string{}
	for _, f := range flips {
		flipBackend[f] = echoA
	}
	other := func(b string) string {
		if b == echoA {
			return echoB
		}
		return echoA
	}
	patch := func(ctx context.Context, name, backend string) error {
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		return c.Patch(ctx, r, client.RawPatch(types.MergePatchType, backendPatch(backend)))
	}
	rng := rand.New(rand.NewPCG(42, uint64(start.UnixNano())))
	tick := time.NewTicker(time.Duration(float64(time.Second) / writesPerSec))
	deadline := time.After(duration)
	var writeErr []error
write:
	for {
		select {
		case <-ctx.Done():
			break write
		case <-deadline:
			break write
		case <-tick.C:
		}
		var kind string
		var err error
		switch op := rng.IntN(10); {
		case op < 3: // move a flip route
			f := flips[rng.IntN(len(flips))]
			kind, flipBackend[f] = "move stable route", other(flipBackend[f])
			err = patch(ctx, f, flipBackend[f])
		default:
			name := churning[rng.IntN(len(churning))]
			b, ok := present[name]
			switch {
			case !ok:
				b = []string{echoA, echoB}[rng.IntN(2)]
				kind = "create churning route"
				err = c.Create(ctx, httpRoute(name, b))
				if err == nil || apierrors.IsAlreadyExists(err) {
					present[name] = b
				}
			case op < 6:
				kind = "move churning route"
				present[name] = other(b)
				err = patch(ctx, name, present[name])
			default:
				kind = "delete churning route"
				err = c.Delete(ctx, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}})
				delete(present, name)
			}
		}
		res.Writes[kind]++
		if err != nil {
			res.WriteErrors++
			if len(writeErr) < 5 {
				writeErr = append(writeErr, fmt.Errorf("%s: %w", kind, err))
			}
		}
	}
	tick.Stop()
	stopLoad()
	wg.Wait()
	res.Duration = time.Since(start)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if len(writeErr) > 0 {
		return res, fmt.Errorf("churn: %d route writes failed, first: %v", res.WriteErrors, writeErr)
	}
	return res, nil
}

func writeChurnErrorsCSV(w io.Writer, recs []churnRecord) error {
	if _, err := fmt.Fprintln(w, "t_s,target,class,host,what"); err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := fmt.Fprintf(w, "%.3f,%s,%s,%s,%q\n", r.At.Seconds(), r.Target, r.Class, r.Host, r.What); err != nil {
			return err
		}
	}
	return nil
}
