package xds

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

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
// resource can be sent.
func contentVersion(typ resource.Type, rs []types.Resource) (string, error) {
	h := sha256.New()
	var n [8]byte
	for _, r := range rs {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("%s %q cannot be encoded: %w", typeName(typ), resourceName(r), err)
		}
		// Length-prefix each resource so that boundaries are part of the hash.
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}
