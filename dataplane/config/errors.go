package config

import (
	"errors"
	"fmt"
)

// ErrIncomplete marks a candidate whose references (route configuration,
// cluster, endpoints, secret) are not all present yet. It is not a NACK: the
// xDS client delivers one type at a time, so a consistent snapshot is briefly
// incomplete between the per-type responses (docs/xds-contract.md,
// "Transport"). Test with errors.Is.
var ErrIncomplete = errors.New("configuration incomplete")

// FieldError is an unsupported or invalid field in one resource. Its text
// names the resource and the field path so that an operator reading a NACK's
// error_detail knows exactly what to change.
type FieldError struct {
	Kind string // "listener", "route configuration", "cluster", "cluster load assignment", "secret"
	Name string // resource name
	Path string // field path with indices, e.g. filter_chains[0].filters[0].typed_config; empty for the root
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, e.Msg)
	}
	return fmt.Sprintf("%s %q: %s: %s", e.Kind, e.Name, e.Path, e.Msg)
}

// incomplete builds an ErrIncomplete naming the missing reference.
func incomplete(kind, name, path, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q: %s: %s", ErrIncomplete, kind, name, path, fmt.Sprintf(format, args...))
}

// reporter accumulates the location of one resource while compiling it, so
// each error is built with the right prefix without threading three strings
// through every call.
type reporter struct {
	kind, name string
}

func (r reporter) errf(path, format string, args ...any) error {
	return &FieldError{Kind: r.kind, Name: r.name, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (r reporter) missing(path, format string, args ...any) error {
	return incomplete(r.kind, r.name, path, format, args...)
}
