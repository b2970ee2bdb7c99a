package gatewayapi

// objRef identifies the two ends of a reference for ReferenceGrant checks.
type objRef struct {
	group, kind, namespace, name string
}

// coreGroup normalises the core API group: "" and "core" are the same.
func coreGroup(g string) string {
	if g == "core" {
		return ""
	}
	return g
}

// refAllowed reports whether from may reference to. Same-namespace references
// are always allowed; cross-namespace ones need a ReferenceGrant in the target
// namespace naming the source (group, kind, namespace) and the target (group,
// kind, and either no name or this name). It is evaluated on every translation,
// so revoking a grant takes effect with the next Snapshot.
func (t *translator) refAllowed(from, to objRef) bool {
	if from.namespace == to.namespace {
		return true
	}
	for _, rg := range t.snap.ReferenceGrants {
		if rg == nil || rg.Namespace != to.namespace {
			continue
		}
		fromOK := false
		for _, f := range rg.Spec.From {
			if coreGroup(string(f.Group)) == coreGroup(from.group) && string(f.Kind) == from.kind && string(f.Namespace) == from.namespace {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, tt := range rg.Spec.To {
			if coreGroup(string(tt.Group)) == coreGroup(to.group) && string(tt.Kind) == to.kind && (tt.Name == nil || *tt.Name == "" || string(*tt.Name) == to.name) {
				return true
			}
		}
	}
	return false
}
