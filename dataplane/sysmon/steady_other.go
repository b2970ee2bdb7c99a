//go:build !linux

package sysmon

// Steady does nothing off Linux: the data plane is measured and tuned on
// Linux only.
func Steady() error { return nil }
