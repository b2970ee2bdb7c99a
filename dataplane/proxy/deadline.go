package proxy

import "time"

// A connection serving requests back to back used to re-arm its deadline
// for every request: the downstream loop its idle timeout, the upstream
// exchange its route timeout. Each re-arm moves a runtime timer (the
// netpoller's, under a lock) and showed as 2-3% of the proxy's CPU in the
// HTTP/1.1 benchmark. A coarseDeadline arms the deadline a little later
// than asked (slack) and keeps it while it is still no earlier than the
// deadline asked for: a timeout then fires up to slack late, never early,
// and a busy connection re-arms about once per slack instead of per
// request.

// coarseDeadline is the deadline a connection has armed, as the one
// goroutine that sets it knows it.
type coarseDeadline struct {
	at    time.Time // the deadline armed; zero: none
	known bool      // at is what the connection has (false: set it anew)
}

// deadlineSlack is how late a timeout of d may fire: a sixteenth of it,
// at most a second.
func deadlineSlack(d time.Duration) time.Duration { return min(d/16, time.Second) }

// update returns the deadline to arm for want (zero: none) and whether it
// must be set; the caller sets it. slack is deadlineSlack of the timeout.
func (c *coarseDeadline) update(want time.Time, slack time.Duration) (time.Time, bool) {
	if want.IsZero() {
		if c.known && c.at.IsZero() {
			return time.Time{}, false
		}
		c.at, c.known = time.Time{}, true
		return time.Time{}, true
	}
	if c.known && !c.at.IsZero() && !c.at.Before(want) && c.at.Sub(want) <= slack {
		return c.at, false
	}
	c.at, c.known = want.Add(slack), true
	return c.at, true
}

// forget records that the deadline was set by other means: the next
// update sets it whatever it asks.
func (c *coarseDeadline) forget() { c.known = false }
