package proxy

import "time"

// clockBase anchors monoNow: one time.Now taken when the package loads.
var clockBase = time.Now()

// monoNow is time.Now for deadlines and idle times, with one clock read
// where time.Now makes two: on linux/amd64 time.Now reads the wall clock
// and the monotonic clock through the vDSO, and each of the three such
// calls a request made on the HTTP/1.1 path (the pool's idle time, the
// upstream deadline, the client's read timeout) showed as about 0.25% of
// the data plane's CPU under the peer benchmark's load.
//
// Its monotonic reading is exact, and that is all a deadline uses
// (SetDeadline goes through time.Until) and all that comparing two such
// times uses. Its wall clock is clockBase's moved on by the monotonic time
// since, so it does not follow adjustments of the system clock made since
// the process started: never use it for a time anyone reads (logs, the
// Date field, timestamps).
func monoNow() time.Time { return clockBase.Add(time.Since(clockBase)) }
