package xdsclient

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential with jitter: each delay is drawn uniformly from
// [d/2, d] where d doubles from min to max. The jitter spreads the
// reconnects of many data planes after a controller restart.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(minDelay, maxDelay time.Duration) *backoff {
	if minDelay <= 0 {
		minDelay = 100 * time.Millisecond
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	return &backoff{min: minDelay, max: maxDelay}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }
