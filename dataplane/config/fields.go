package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// checkFields walks every set field of m (protoreflect Range visits exactly
// the populated fields) and reports the first one outside the allowlist of
// docs/xds-contract.md. Any values are unpacked into the types the contract
// allows at that path and walked with their own allowlist, so a field set
// inside a typed_config is caught as well. This is what makes the data plane
// NACK instead of silently ignoring configuration it does not implement.
func checkFields(rep reporter, m proto.Message) error {
	root := m.ProtoReflect()
	return walkFields(rep, root, root.Descriptor().FullName(), "", "")
}

// checkFieldsExcept is checkFields for every field of the root message m
// but skip, whose values the caller checks itself (checkElement).
func checkFieldsExcept(rep reporter, m proto.Message, skip protoreflect.Name) error {
	root := m.ProtoReflect()
	return walkFieldsExcept(rep, root, root.Descriptor().FullName(), "", "", skip)
}

// checkElement checks one element of the repeated message field named
// field of the root message root, as checkFields would have in its walk.
func checkElement(rep reporter, root protoreflect.FullName, field string, i int, m proto.Message) error {
	return walkValue(rep, m.ProtoReflect(), root, field, field+"["+strconv.Itoa(i)+"]")
}

func walkFields(rep reporter, m protoreflect.Message, root protoreflect.FullName, rel, loc string) error {
	return walkFieldsExcept(rep, m, root, rel, loc, "")
}

func walkFieldsExcept(rep reporter, m protoreflect.Message, root protoreflect.FullName, rel, loc string, skip protoreflect.Name) error {
	if unk := m.GetUnknown(); len(unk) > 0 {
		return rep.errf(loc, "unknown field (%d bytes not in the Envoy v3 API this data plane was built with)", len(unk))
	}
	allowed := allowlists[root]
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() == skip {
			return true
		}
		name := string(fd.Name())
		relPath := joinPath(rel, name)
		if !allowed[relPath] {
			err = rep.errf(loc, "unsupported field %q", name)
			return false
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		if fd.IsMap() {
			err = walkMap(rep, fd, v.Map(), root, relPath, joinPath(loc, name))
			return err == nil
		}
		if fd.IsList() {
			list := v.List()
			for i := range list.Len() {
				elemLoc := joinPath(loc, name) + "[" + strconv.Itoa(i) + "]"
				if err = walkValue(rep, list.Get(i).Message(), root, relPath, elemLoc); err != nil {
					return false
				}
			}
			return true
		}
		err = walkValue(rep, v.Message(), root, relPath, joinPath(loc, name))
		return err == nil
	})
	return err
}

func walkValue(rep reporter, m protoreflect.Message, root protoreflect.FullName, rel, loc string) error {
	name := m.Descriptor().FullName()
	if name == "google.protobuf.Any" {
		a, ok := m.Interface().(*anypb.Any)
		if !ok {
			return rep.errf(loc, "malformed Any")
		}
		inner, err := unpackAllowed(root, rel, a)
		if err != nil {
			return rep.errf(loc, "%v", err)
		}
		ir := inner.ProtoReflect()
		return walkFields(rep, ir, ir.Descriptor().FullName(), "", loc)
	}
	// Well-known wrappers and Duration are leaves: their single value field
	// is the setting itself.
	if strings.HasPrefix(string(name), "google.protobuf.") {
		return nil
	}
	return walkFields(rep, m, root, rel, loc)
}

// unpackAllowed decodes a into the message type the contract allows at this
// path. It never consults the global registry, so only the listed types can
// ever be instantiated from a typed_config.
func unpackAllowed(root protoreflect.FullName, rel string, a *anypb.Any) (proto.Message, error) {
	for _, candidate := range anyTypes[root][rel] {
		fn := fullName(candidate)
		if a.MessageName() == fn {
			m := candidate.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(a.GetValue(), m); err != nil {
				return nil, fmt.Errorf("invalid %s: %v", fn, err)
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("unsupported type %q", a.GetTypeUrl())
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// walkMap checks a map field: every key must be listed in mapKeys for this
// path (the extension names the contract knows), and message values are
// walked like any other value at the map's path.
func walkMap(rep reporter, fd protoreflect.FieldDescriptor, m protoreflect.Map, root protoreflect.FullName, rel, loc string) error {
	allowed := mapKeys[root][rel]
	var err error
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		key := k.String()
		elemLoc := loc + "[" + strconv.Quote(key) + "]"
		if !slices.Contains(allowed, key) {
			err = rep.errf(loc, "unsupported key %q", key)
			return false
		}
		if fd.MapValue().Kind() == protoreflect.MessageKind {
			err = walkValue(rep, v.Message(), root, rel, elemLoc)
		}
		return err == nil
	})
	return err
}
