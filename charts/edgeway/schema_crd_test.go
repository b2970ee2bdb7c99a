package chart_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

var update = flag.Bool("update", false, "rewrite values.schema.json's edgewayConfigSpec from the EdgewayConfig CRD")

const valuesSchema = "values.schema.json"

// The values edgewayConfig.spec become the spec of an EdgewayConfig, so values.schema.json
// checks them with the CRD's own schema (converted to draft-07): `helm install` refuses a wrong
// field before the API server would, with the same limits. When the CRD changes (make apis):
//
//	go test ./charts/edgeway -run TestValuesSchemaFollowsEdgewayConfigCRD -update
func TestValuesSchemaFollowsEdgewayConfigCRD(t *testing.T) {
	crd := readCRD(t, edgewayCRDFile)
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	want := draft07(&spec)
	want["description"] = "spec of the EdgewayConfig (gateway.edgeway.dev/v1alpha1), checked with the CRD's schema: " + spec.Description

	raw, err := os.ReadFile(valuesSchema)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", valuesSchema, err)
	}
	defs, _ := doc["definitions"].(map[string]any)
	if defs == nil {
		t.Fatalf("%s has no definitions", valuesSchema)
	}
	if reflect.DeepEqual(roundTrip(t, defs["edgewayConfigSpec"]), roundTrip(t, want)) {
		return
	}
	if !*update {
		t.Fatalf("%s: definitions.edgewayConfigSpec differs from the spec schema of %s; run\n\tgo test ./charts/edgeway -run TestValuesSchemaFollowsEdgewayConfigCRD -update",
			valuesSchema, edgewayCRDFile)
	}
	defs["edgewayConfigSpec"] = want
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valuesSchema, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %s", valuesSchema)
}

// draft07 converts a CRD's structural OpenAPI v3 schema to JSON schema draft-07 as Helm
// applies it. Objects with properties refuse unknown ones (the API server would prune them
// silently); Kubernetes extensions and formats, which draft-07 has no use for, are dropped.
func draft07(s *apiextensionsv1.JSONSchemaProps) map[string]any {
	out := map[string]any{}
	if s.Description != "" {
		out["description"] = s.Description
	}
	if s.Type != "" {
		out["type"] = s.Type
	}
	if len(s.Enum) > 0 {
		var enum []any
		for _, e := range s.Enum {
			var v any
			_ = json.Unmarshal(e.Raw, &v)
			enum = append(enum, v)
		}
		out["enum"] = enum
	}
	if s.Pattern != "" {
		out["pattern"] = s.Pattern
	}
	for key, v := range map[string]*int64{"minLength": s.MinLength, "maxLength": s.MaxLength,
		"minItems": s.MinItems, "maxItems": s.MaxItems, "minProperties": s.MinProperties, "maxProperties": s.MaxProperties} {
		if v != nil {
			out[key] = *v
		}
	}
	if s.Minimum != nil {
		out["minimum"] = *s.Minimum
	}
	if s.Maximum != nil {
		out["maximum"] = *s.Maximum
	}
	if len(s.AnyOf) > 0 {
		var anyOf []any
		for i := range s.AnyOf {
			anyOf = append(anyOf, draft07(&s.AnyOf[i]))
		}
		out["anyOf"] = anyOf
	}
	if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for name, p := range s.Properties {
			props[name] = draft07(&p)
		}
		out["properties"] = props
		out["additionalProperties"] = false
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out["additionalProperties"] = draft07(s.AdditionalProperties.Schema)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out["items"] = draft07(s.Items.Schema)
	}
	return out
}

// roundTrip normalizes v through JSON (numbers, slices and maps of one representation).
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
