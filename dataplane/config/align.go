package config

// alignLookahead bounds how far align looks for an element of the last
// sequence after a mismatch: a few removed elements in a row are found
// again; more than that, or a reordering, only costs reuse, never
// correctness.
const alignLookahead = 8

// aligner walks a new sequence, element by element, against the last one
// and finds each new element's equal in the last sequence at or just after
// the position the walk reached there. An update changes a few elements
// of a long sequence (a route configuration's virtual hosts, in order), so
// this finds every unchanged element with one comparison each, without
// hashing the elements into a map.
//
// Only an element for which eq reported equality is ever returned, so a
// miss costs the caller its work on that element, never a wrong result.
type aligner struct {
	j int // the position in the last sequence the walk reached
}

// match returns the index in the last sequence (of length last) of an
// element equal to new element i (of next in all), or -1. eq(i, j)
// compares new element i with last element j. Call it for i = 0, 1, ...
// in order.
func (a *aligner) match(i, next, last int, eq func(i, j int) bool) int {
	j := a.j
	if j < last && eq(i, j) {
		a.j = j + 1
		return j
	}
	// Element j was replaced by element i: the ones after line up again.
	if i+1 < next && j+1 < last && eq(i+1, j+1) {
		a.j = j + 1
		return -1
	}
	// Elements j, ... were removed.
	for k := j + 1; k < last && k <= j+alignLookahead; k++ {
		if eq(i, k) {
			a.j = k + 1
			return k
		}
	}
	// Element i is new (inserted before j): the walk stays at j.
	return -1
}
