package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// parallel runs fn for every name with workers goroutines and returns the
// first errors (at most five, so a broken cluster does not flood the log).
func parallel(ctx context.Context, names []string, workers int, fn func(context.Context, string) error) error {
	work := make(chan string)
	var mu sync.Mutex
	var errs []error
	var failed int
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for name := range work {
				if err := fn(ctx, name); err != nil {
					mu.Lock()
					if failed++; len(errs) < 5 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, n := range names {
		select {
		case work <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if failed > len(errs) {
		errs = append(errs, fmt.Errorf("and %d more", failed-len(errs)))
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// createRoutes creates a route to backend for each name in parallel. A
// route that already exists is left as it is.
func createRoutes(ctx context.Context, c client.Client, names []string, backend string, workers int) error {
	return parallel(ctx, names, workers, func(ctx context.Context, name string) error {
		err := c.Create(ctx, httpRoute(name, backend))
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create HTTPRoute %s: %w", name, err)
		}
		return nil
	})
}

// deleteRoutes deletes the named routes in parallel.
func deleteRoutes(ctx context.Context, c client.Client, names []string, workers int) error {
	return parallel(ctx, names, workers, func(ctx context.Context, name string) error {
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		if err := c.Delete(ctx, r); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete HTTPRoute %s: %w", name, err)
		}
		return nil
	})
}

// waitServed waits until the data plane answers the last name's hostname
// with a 200 from backend (the time of that answer is returned: the
// routes were created in order, so it is about the last one written),
// then checks every other name the same way. It fails after timeout,
// saying how many are still not served.
func waitServed(ctx context.Context, p *prober, names []string, backend string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	served := func(a answer) bool { return a.status == 200 && a.service == backend }
	var lastServed time.Time
	for i, name := range append([]string{names[len(names)-1]}, names[:len(names)-1]...) {
		at, _, last, err := p.pollUntil(ctx, hostOf(name), 10*time.Millisecond, served)
		if err != nil {
			return lastServed, fmt.Errorf("%d of %d routes not served by %s within %s (first: %s answers %s)",
				len(names)-i, len(names), backend, timeout, hostOf(name), last)
		}
		if i == 0 {
			lastServed = at
		}
	}
	return lastServed, nil
}
