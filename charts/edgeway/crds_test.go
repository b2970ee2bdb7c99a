package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

const edgewayCRDFile = "crds/gateway.edgeway.dev_edgewayconfigs.yaml"

// The chart installs the same Gateway API CRDs that file mode validates against
// (controller/snapshot/crds): both are copied from the sigs.k8s.io/gateway-api module of go.mod
// by `make crds`, and a version bump must move both.
func TestGatewayAPICRDsMatchTheModule(t *testing.T) {
	snap, _ := filepath.Glob("../../controller/snapshot/crds/gateway.networking.k8s.io_*.yaml")
	chart, _ := filepath.Glob("crds/gateway.networking.k8s.io_*.yaml")
	if len(snap) == 0 || len(snap) != len(chart) {
		t.Fatalf("controller/snapshot/crds has %d Gateway API CRDs, the chart %d: run `make crds`", len(snap), len(chart))
	}
	for _, s := range snap {
		name := filepath.Base(s)
		a, _ := os.ReadFile(s)
		b, err := os.ReadFile(filepath.Join("crds", name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("crds/%s differs from controller/snapshot/crds (%v): run `make crds`", name, err)
		}
		crd := readCRD(t, filepath.Join("crds", name))
		if crd.Annotations["gateway.networking.k8s.io/bundle-version"] != "v1.6.3" || crd.Annotations["gateway.networking.k8s.io/channel"] != "experimental" {
			t.Errorf("%s: bundle %q channel %q, want v1.6.3 experimental (hack/sync-crds.sh)", name,
				crd.Annotations["gateway.networking.k8s.io/bundle-version"], crd.Annotations["gateway.networking.k8s.io/channel"])
		}
	}
	a, _ := os.ReadFile("../../controller/snapshot/crds/networking.istio.io_serviceentries.yaml")
	b, _ := os.ReadFile("files/networking.istio.io_serviceentries.yaml")
	if len(b) == 0 || !bytes.Equal(bytes.TrimPrefix(a, []byte("---\n")), b) {
		t.Error("files/networking.istio.io_serviceentries.yaml differs from controller/snapshot/crds: run `make crds`")
	}
	// crds/ holds only CRDs (Helm creates them before anything else and never upgrades them).
	files, _ := filepath.Glob("crds/*")
	for _, f := range files {
		if !strings.HasSuffix(f, ".yaml") {
			t.Errorf("%s: crds/ must hold only CRD YAML", f)
			continue
		}
		readCRD(t, f)
	}
}

// The EdgewayConfig CRD is edgeway's own API (controller/apis/v1alpha1). Its schema must have
// exactly the fields of the Go types, with matching types: a field only in the CRD would be
// accepted by the API server and silently dropped by the controller; a field only in Go could
// never be set.
func TestEdgewayConfigCRDMatchesGoTypes(t *testing.T) {
	crd := readCRD(t, edgewayCRDFile)
	if crd.Name != "edgewayconfigs.gateway.edgeway.dev" || crd.Spec.Group != edgewayv1alpha1.GroupName ||
		crd.Spec.Names.Kind != edgewayv1alpha1.KindEdgewayConfig || crd.Spec.Names.Plural != "edgewayconfigs" ||
		crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Fatalf("CRD %s: group %s kind %s plural %s scope %s", crd.Name, crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Names.Plural, crd.Spec.Scope)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("versions: %d, want only v1alpha1", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != edgewayv1alpha1.GroupVersion.Version || !v.Served || !v.Storage || v.Schema == nil {
		t.Fatalf("version %s served=%v storage=%v", v.Name, v.Served, v.Storage)
	}
	spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		t.Fatal("the CRD schema has no spec")
	}
	compareSchema(t, "spec", reflect.TypeFor[edgewayv1alpha1.EdgewayConfigSpec](), &spec)
}

// ACMEIssuer is edgeway's own API too (controller/apis/v1alpha1/acmeissuer_types.go): the
// same exact match of its schema and the Go types.
func TestACMEIssuerCRDMatchesGoTypes(t *testing.T) {
	crd := readCRD(t, acmeIssuerCRDFile)
	if crd.Name != "acmeissuers.gateway.edgeway.dev" || crd.Spec.Group != edgewayv1alpha1.GroupName ||
		crd.Spec.Names.Kind != edgewayv1alpha1.KindACMEIssuer || crd.Spec.Names.Plural != "acmeissuers" ||
		crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Fatalf("CRD %s: group %s kind %s plural %s scope %s", crd.Name, crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Names.Plural, crd.Spec.Scope)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("versions: %d, want only v1alpha1", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != edgewayv1alpha1.GroupVersion.Version || !v.Served || !v.Storage || v.Schema == nil {
		t.Fatalf("version %s served=%v storage=%v", v.Name, v.Served, v.Storage)
	}
	spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		t.Fatal("the CRD schema has no spec")
	}
	compareSchema(t, "spec", reflect.TypeFor[edgewayv1alpha1.ACMEIssuerSpec](), &spec)
}

const acmeIssuerCRDFile = "crds/gateway.edgeway.dev_acmeissuers.yaml"

var (
	quantityType = reflect.TypeFor[resource.Quantity]()
	durationType = reflect.TypeFor[metav1.Duration]()
)

// compareSchema walks a Go type and its OpenAPI schema together.
func compareSchema(t *testing.T, path string, typ reflect.Type, s *apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == quantityType {
		if !s.XIntOrString || len(s.AnyOf) == 0 {
			t.Errorf("%s: a resource.Quantity must be x-kubernetes-int-or-string", path)
		}
		return
	}
	if typ == durationType {
		if s.Type != "string" {
			t.Errorf("%s: a metav1.Duration must be a string, not %q", path, s.Type)
		}
		return
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean",
		reflect.Int32: "integer", reflect.Int64: "integer", reflect.Int: "integer",
		reflect.Struct: "object", reflect.Map: "object", reflect.Slice: "array",
	}[typ.Kind()]
	if want == "" {
		t.Fatalf("%s: Go kind %s not handled by this test", path, typ.Kind())
	}
	if s.Type != want {
		t.Errorf("%s: schema type %q, Go type %s wants %q", path, s.Type, typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Map:
		if s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
			t.Errorf("%s: a map needs additionalProperties", path)
			return
		}
		compareSchema(t, path+"[*]", typ.Elem(), s.AdditionalProperties.Schema)
	case reflect.Slice:
		if s.Items == nil || s.Items.Schema == nil {
			t.Errorf("%s: an array needs items", path)
			return
		}
		compareSchema(t, path+"[]", typ.Elem(), s.Items.Schema)
	case reflect.Struct:
		fields := jsonFields(typ)
		for name, ft := range fields {
			p, ok := s.Properties[name]
			if !ok {
				t.Errorf("%s.%s: field of %s missing in the CRD schema", path, name, typ)
				continue
			}
			compareSchema(t, path+"."+name, ft, &p)
		}
		for name := range s.Properties {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s.%s: in the CRD schema but not in %s (the controller would drop it)", path, name, typ)
			}
		}
	}
}

// jsonFields maps the JSON names of a struct's fields (inline structs flattened) to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || slices.Contains(strings.Split(opts, ","), "inline")) {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func readCRD(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `make crds`; edgeway's own CRD: `make apis`)", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if crd.Kind != "CustomResourceDefinition" || crd.APIVersion != "apiextensions.k8s.io/v1" {
		t.Fatalf("%s: %s %s is not a CRD", path, crd.APIVersion, crd.Kind)
	}
	return &crd
}

// validateAgainstCRD defaults and validates obj with the schema and CEL rules of the CRD in
// crds/ for its kind, as the API server does on create.
func validateAgainstCRD(t *testing.T, obj runtime.Object) {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	files, _ := filepath.Glob("crds/*.yaml")
	for _, f := range files {
		crd := readCRD(t, f)
		if crd.Spec.Group != gvk.Group || crd.Spec.Names.Kind != gvk.Kind {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != gvk.Version {
				continue
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				t.Fatal(err)
			}
			structural, err := structuralschema.NewStructural(&internal)
			if err != nil {
				t.Fatalf("%s: not a structural schema: %v", f, err)
			}
			validator, _, err := validation.NewSchemaValidator(&internal)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			var u map[string]any
			if err := json.Unmarshal(raw, &u); err != nil {
				t.Fatal(err)
			}
			defaulting.Default(u, structural)
			errs := validation.ValidateCustomResource(nil, u, validator)
			celErrs, _ := cel.NewValidator(structural, true, celconfig.PerCallLimit).
				Validate(context.Background(), nil, structural, u, nil, celconfig.RuntimeCELCostBudget)
			if errs = append(errs, celErrs...); len(errs) > 0 {
				t.Fatalf("%s does not pass its CRD %s: %v", gvk.Kind, f, errs.ToAggregate())
			}
			return
		}
	}
	t.Fatalf("no CRD in crds/ serves %s", gvk)
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
