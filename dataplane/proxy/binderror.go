package proxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// BindError is one listener socket a configuration needed and the host
// would not give: another process holds the port, the address is not on
// the host, the port is privileged. A configuration is bound all or none,
// so it is refused, and every socket that failed is named (not only the
// first), so that whoever fixes it learns all of them at once.
type BindError struct {
	Listener string
	Address  string // host:port, as configured
	UDP      bool
	Err      error
}

func (e *BindError) Error() string {
	transport := ""
	if e.UDP {
		transport = "UDP "
	}
	return fmt.Sprintf("listener %q: cannot bind %s%s: %v", e.Listener, transport, e.Address, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

func bindError(l *config.Listener, err error) *BindError {
	return &BindError{Listener: l.Name, Address: l.Address, UDP: l.UDP != nil, Err: err}
}

// BindFailures are the sockets the last configuration the proxy refused
// could not bind; nil once a configuration was swapped in after it.
// Standalone reads them to have translation leave those listeners out
// (cmd/edgeway/bindfailures.go).
func (p *Proxy) BindFailures() []BindError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bindFailures)
}

// bindErrors is several sockets' failures as one error, on one line (an
// xDS NACK's message, a log field): errors.Join would put newlines in.
type bindErrors []error

func (e bindErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e bindErrors) Unwrap() []error { return e }

// joinBindErrors is nil, the one error, or bindErrors.
func joinBindErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return bindErrors(errs)
}

// bindFailuresOf keeps the BindErrors in err, however joined.
func bindFailuresOf(err error) []BindError {
	switch e := err.(type) {
	case *BindError:
		return []BindError{*e}
	case interface{ Unwrap() []error }:
		var out []BindError
		for _, one := range e.Unwrap() {
			out = append(out, bindFailuresOf(one)...)
		}
		return out
	}
	return nil
}
