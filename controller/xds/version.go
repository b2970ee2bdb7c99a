package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// contentVersion is the version_info of one resource type: a hash of its
// resources (in the given, sorted order). A type whose content did not change
// keeps its version, so the cache does not push it again; every replica of
// the controller computes the same version for the same IR, so a data plane
// that reconnects to another replica is not sent what it already has.
//
// Deterministic marshalling is stable within one binary, which is all that
// matters: a different controller build at worst re-sends identical content.
// A resource that does not marshal (a string that is not UTF-8) is the
// error of encodable: this marshalling is also the check that every
// resource can be sent (a reused virtual host's wire form is the one
// marshalled when it was new).
func contentVersion(typ resource.Type, rs []types.Resource, vhosts vhostReuse) (string, error) {
	h := &chunkHash{Hash: sha256.New(), n: make([]byte, 8)}
	for _, r := range rs {
		if rc, ok := r.(*routev3.RouteConfiguration); ok {
			if err := hashRouteConfiguration(h, rc, translatedVHostsOf(vhosts, rc)); err != nil {
				return "", fmt.Errorf("%s %q cannot be encoded: %w", typeName(typ), resourceName(r), err)
			}
			continue
		}
		b, err := deterministic.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("%s %q cannot be encoded: %w", typeName(typ), resourceName(r), err)
		}
		h.chunk(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// hashRouteConfiguration hashes rc as its virtual hosts' digests (the
// SHA-256 of their wire forms, taken from entries, rc's virtual hosts by
// position, when known, and recorded there; nil entries: marshal every
// one) after the rest of rc and the number of virtual hosts: at thousands
// of virtual hosts a change of one marshals and digests one, not the
// whole configuration, and the version hashes 16 bytes per virtual host
// instead of its wire form.
func hashRouteConfiguration(h *chunkHash, rc *routev3.RouteConfiguration, entries []translatedVHost) error {
	// rc is the translation's own until it is published.
	vhs := rc.VirtualHosts
	rc.VirtualHosts = nil
	head, err := deterministic.Marshal(rc)
	rc.VirtualHosts = vhs
	if err != nil {
		return err
	}
	h.chunk(head)
	h.count(len(vhs))
	for i, v := range vhs {
		if entries != nil && entries[i].wire != nil {
			h.Write(entries[i].digest[:])
			continue
		}
		b, err := deterministic.Marshal(v)
		if err != nil {
			return err
		}
		d := digestOf(b)
		if entries != nil {
			entries[i].wire, entries[i].digest = b, d
		}
		h.Write(d[:])
	}
	return nil
}

// vhostDigest is the first half of a virtual host's wire form's SHA-256.
type vhostDigest [16]byte

func digestOf(wire []byte) vhostDigest {
	sum := sha256.Sum256(wire)
	return vhostDigest(sum[:16])
}

// chunkHash hashes length-prefixed chunks, so that boundaries are part of
// the hash; n is the prefix's buffer, allocated once rather than per chunk
// (a slice passed to Hash.Write escapes).
type chunkHash struct {
	hash.Hash
	n []byte
}

func (h *chunkHash) chunk(b []byte) {
	h.count(len(b))
	h.Write(b)
}

func (h *chunkHash) count(n int) {
	binary.BigEndian.PutUint64(h.n, uint64(n))
	h.Write(h.n)
}
