package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// propagationTimeout bounds the wait for one change; a change that takes
// longer is recorded as timed out and the run goes on.
const propagationTimeout = 30 * time.Second

// pollInterval is the propagation poller's pace: a request every
// millisecond (each takes a fraction of one over loopback), so the
// measurement adds at most about 1 ms.
const pollInterval = time.Millisecond

// change is one propagation sample.
type change struct {
	Routes   int    // routes present besides the samples' own
	Seq      int    // 0..changes-1
	Kind     string // "create" (a new hostname) or "update" (a route moved to the other backend)
	Route    string
	Write    time.Duration // the API call's own duration
	Latency  time.Duration // from the write's return to the first correct answer
	Polls    int
	Slowest  time.Duration // the slowest of the polls
	TimedOut bool
	// Parts is where the latency went (breakdown.go).
	Parts breakdown
}

// measurePropagation makes n changes one after the other, alternating the
// creation of a new route (served once its hostname answers 200 from
// echo-a instead of 404) and an update of the route just created to the
// other backend (served once echo-b answers). Each write waits for the
// previous one to be served, plus a random pause of up to 100 ms so that
// writes do not fall in step with the controller's debounce timer. The
// routes are deleted afterwards.
// bp reads each sample's breakdown (the controller's metrics, both
// processes' CPU) right before the write and right after the answer.
func measurePropagation(ctx context.Context, c client.Client, p *prober, bp breakdownProbe, routes, n int) ([]change, error) {
	var out []change
	var created []string
	defer func() {
		// Gone again before the next size, so that it has exactly its
		// own routes.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = deleteRoutes(dctx, c, created, 8)
	}()
	for seq := range n {
		ch := change{Routes: routes, Seq: seq, Route: routeName(prefixPropagation, seq/2)}
		var want string
		var write func(context.Context) error
		if seq%2 == 0 {
			ch.Kind, want = "create", echoA
			write = func(ctx context.Context) error { return c.Create(ctx, httpRoute(ch.Route, echoA)) }
			created = append(created, ch.Route)
		} else {
			ch.Kind, want = "update", echoB
			write = func(ctx context.Context) error {
				r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: ch.Route, Namespace: namespace}}
				return c.Patch(ctx, r, client.RawPatch(types.MergePatchType, backendPatch(echoB)))
			}
		}
		before := bp.read(ctx)
		start := time.Now()
		if err := write(ctx); err != nil {
			return out, fmt.Errorf("propagation sample %d (%s %s): %w", seq, ch.Kind, ch.Route, err)
		}
		wrote := time.Now()
		ch.Write = wrote.Sub(start)
		pctx, cancel := context.WithTimeout(ctx, propagationTimeout)
		at, st, _, err := p.pollUntil(pctx, hostOf(ch.Route), pollInterval, func(a answer) bool {
			return a.status == 200 && a.service == want
		})
		cancel()
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		ch.Polls, ch.Slowest = st.N, st.Slowest
		if err != nil {
			ch.TimedOut, ch.Latency = true, propagationTimeout
		} else {
			ch.Latency = at.Sub(wrote)
			ch.Parts = breakdownOf(before, bp.read(ctx), wrote, at)
		}
		out = append(out, ch)
		sleep(ctx, time.Duration(rand.Int64N(int64(100*time.Millisecond))))
	}
	return out, nil
}

func writeChangesCSV(w io.Writer, changes []change) error {
	if _, err := fmt.Fprintln(w, "routes,seq,kind,route,write_ms,latency_ms,polls,slowest_poll_ms,timed_out,"+breakdownCSVHeader); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := fmt.Fprintf(w, "%d,%d,%s,%s,%.3f,%.3f,%d,%.3f,%t,%s\n", c.Routes, c.Seq, c.Kind, c.Route,
			float64(c.Write)/1e6, float64(c.Latency)/1e6, c.Polls, float64(c.Slowest)/1e6, c.TimedOut, c.Parts.csv()); err != nil {
			return err
		}
	}
	return nil
}
