package serviceproxy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// warning is a problem with a Service that the proxy reports as a Warning
// event and a log line.
type warning struct {
	reason, message string
}

// warnings collects the problems one sync finds.
type warnings struct {
	list []warning
}

func (w *warnings) add(reason, format string, args ...any) {
	w.list = append(w.list, warning{reason, fmt.Sprintf(format, args...)})
}

// report emits the warnings that the previous sync of the Service did not
// find, so that a lasting problem is reported once and not at every
// endpoint change, and one that comes back is reported again.
func (st *serviceState) report(p *Proxy, svc *corev1.Service, w *warnings) {
	now := map[warning]bool{}
	for _, x := range w.list {
		now[x] = true
		if st.warnings[x] {
			continue
		}
		p.log.Warn(x.message, "service", st.key, "reason", x.reason)
		p.recorder.Event(svc, corev1.EventTypeWarning, x.reason, x.message)
	}
	st.warnings = now
}
