package kube

import "github.com/edgeway/edgeway/controller/snapshot"

// SetOverlay installs f, applied to every Snapshot this Source builds
// before it is translated: a source of objects that are not in the API
// server (the mesh workload certificates of certs/mesh, kept in each
// replica's memory). Call it before Start; f must not modify its argument
// nor any object in it (they are shared with other builds' Snapshots,
// copies.go): it returns a new Snapshot with what it adds.
func (s *Source) SetOverlay(f func(*snapshot.Snapshot) *snapshot.Snapshot) {
	s.overlay = f
}
