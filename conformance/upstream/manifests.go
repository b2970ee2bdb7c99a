package upstream

import (
	"io/fs"

	"sigs.k8s.io/gateway-api/conformance"
)

// manifests are the suite's own manifests (base/, tests/), embedded in the
// conformance module.
func manifests() []fs.FS { return []fs.FS{&conformance.Manifests} }
