package proxy

import (
	"regexp"
	"testing"
)

// TestNewRequestIDIsAUUIDv4: the id a request gets when it has none is a
// version 4 UUID in its canonical form, and ids do not repeat.
func TestNewRequestIDIsAUUIDv4(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool, 100000)
	for range 100000 {
		id := newRequestID()
		if !uuid4.MatchString(id) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q repeated", id)
		}
		seen[id] = true
	}
}
