package status

import (
	"context"
	"time"
)

// defaultMaxYield bounds how long one pass waits for translations in all.
const defaultMaxYield = 500 * time.Millisecond

// yieldPoll is how often a waiting pass asks Busy again: a translation
// takes milliseconds to tens of milliseconds, and a poll is an atomic read.
const yieldPoll = time.Millisecond

// yield waits while Options.Busy reports a translation running or a change
// waiting for one, for at most what is left of this pass's budget (which
// the pass starts with MaxYield of). Status is what users read about the
// configuration; the translation is what serves it. On two cores a pass
// that ran beside a translation (its API reads and writes, and the API
// server's and etcd's work on them) stretched that translation two to five
// times: at 5000 routes, bench-scale's slowest propagation samples were
// those with a status pass overlapping. The budget keeps statuses coming
// under a continuous stream of changes.
func (w *Writer) yield(ctx context.Context) {
	if w.opts.Busy == nil || w.yieldLeft <= 0 {
		return
	}
	for w.opts.Busy() && w.yieldLeft > 0 && ctx.Err() == nil {
		wait := min(yieldPoll, w.yieldLeft)
		time.Sleep(wait)
		w.yieldLeft -= wait
		yieldSeconds.Add(wait.Seconds())
	}
}
