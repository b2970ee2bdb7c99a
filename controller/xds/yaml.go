package xds

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.yaml.in/yaml/v2"
	"google.golang.org/protobuf/encoding/protojson"
)

// MarshalYAML renders resources as YAML for humans (golden files, the
// translate and explain commands): one key per type ("clusters",
// "endpoints", "listeners", "routes", "secrets"), each a list of the
// resources' protojson form in the order given. The output is deterministic:
// protojson's own spacing is not stable, so it is re-parsed and re-emitted
// with sorted keys.
func MarshalYAML(res map[resource.Type][]types.Resource) ([]byte, error) {
	doc := yaml.MapSlice{}
	for _, typ := range Types {
		list := []any{}
		for _, r := range res[typ] {
			js, err := protojson.Marshal(r)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", typeName(typ), resourceName(r), err)
			}
			v, err := decodeJSON(js)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", typeName(typ), resourceName(r), err)
			}
			list = append(list, v)
		}
		doc = append(doc, yaml.MapItem{Key: typeName(typ), Value: list})
	}
	return yaml.Marshal(doc)
}

// decodeJSON parses JSON keeping integers integral (float64 would print
// large numbers in exponent form).
func decodeJSON(js []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = convertNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	}
	return v
}
