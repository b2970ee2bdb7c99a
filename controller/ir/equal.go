package ir

import "reflect"

// Equal reports whether a and b serve the same: the publisher skips the
// xDS translation of a Gateway whose IR equals the one it published last.
func Equal(a, b *IR) bool {
	return reflect.DeepEqual(a, b)
}
