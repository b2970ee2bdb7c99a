package snapshot

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// crdFiles are the CRDs of the pinned gateway-api and istio.io/api versions,
// copied by hack/sync-crds.sh. File mode applies exactly what the API server
// would: the CRD's defaults, then its OpenAPI and CEL validation.
//
//go:embed crds/*.yaml
var crdFiles embed.FS

// crdVersion is one served version of one CRD. Its schema is compiled the
// first time an object of that version is loaded: the CEL validators of all
// the embedded CRDs' versions take about 25 MiB of heap, most of them for
// kinds and versions a configuration never uses (HTTPRoute v1 alone is 6.3
// MiB, and its v1beta1 as much again), and standalone mode keeps them for
// the life of the process.
type crdVersion struct {
	source  string                 // the file the CRD is in, for errors
	read    func() ([]byte, error) // that file's bytes, read again to compile
	doc     int                    // the CRD's document in it (splitDocuments)
	crdName string
	version string

	once     sync.Once
	compiled *compiledVersion
	err      error
}

// compiledVersion is a version's schema, ready to default and validate.
type compiledVersion struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
}

type crdSet struct {
	// byKind maps "group/Kind" to the CRD's served versions.
	byKind map[string]map[string]*crdVersion
}

var (
	crdsOnce sync.Once
	crds     *crdSet
	crdsErr  error
)

func loadCRDs() (*crdSet, error) {
	crdsOnce.Do(func() { crds, crdsErr = embeddedCRDs() })
	return crds, crdsErr
}

// embeddedCRDs is a new set of the CRDs edgeway ships, none compiled yet.
func embeddedCRDs() (*crdSet, error) {
	set, err := parseCRDs(crdFiles)
	// edgeway's own kinds, generated beside their Go types.
	for _, own := range []struct {
		name string
		data []byte
	}{{"EdgewayConfig CRD", v1alpha1.CRD}, {"ACMEIssuer CRD", v1alpha1.ACMEIssuerCRD}} {
		if err == nil {
			err = set.add(own.name, func() ([]byte, error) { return own.data, nil })
		}
	}
	return set, err
}

func parseCRDs(fsys fs.FS) (*crdSet, error) {
	set := &crdSet{byKind: map[string]map[string]*crdVersion{}}
	files, err := fs.Glob(fsys, "crds/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		// Read again by the versions compiled later: fs.ReadFile of an
		// embed.FS returns a copy, which the set does not keep.
		read := func() ([]byte, error) { return fs.ReadFile(fsys, name) }
		if err := set.add(name, read); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// add records the served versions of the CRDs of one YAML file (name is
// for errors); their schemas are compiled on first use (crdVersion.get).
func (set *crdSet) add(name string, read func() ([]byte, error)) error {
	data, err := read()
	if err != nil {
		return err
	}
	for i, doc := range splitDocuments(data) {
		crd, err := unmarshalCRD(name, doc)
		if err != nil {
			return err
		}
		if crd == nil {
			continue
		}
		versions := map[string]*crdVersion{}
		for _, v := range crd.Spec.Versions {
			if servedSchema(v) != nil {
				versions[v.Name] = &crdVersion{source: name, read: read, doc: i, crdName: crd.Name, version: v.Name}
			}
		}
		set.byKind[crd.Spec.Group+"/"+crd.Spec.Names.Kind] = versions
	}
	return nil
}

// unmarshalCRD decodes one document of a CRD file; nil for an empty
// document or another kind.
func unmarshalCRD(name string, doc document) (*apiextensionsv1.CustomResourceDefinition, error) {
	if strings.TrimSpace(string(doc.text)) == "" {
		return nil, nil
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(doc.text, &crd); err != nil {
		return nil, fmt.Errorf("embedded CRD %s: %w", name, err)
	}
	if crd.Kind != "CustomResourceDefinition" {
		return nil, nil
	}
	return &crd, nil
}

// servedSchema is a version's schema; nil when it is not served or has none.
func servedSchema(v apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if !v.Served || v.Schema == nil {
		return nil
	}
	return v.Schema.OpenAPIV3Schema
}

// get compiles the version's schema the first time it is asked for.
func (cv *crdVersion) get() (*compiledVersion, error) {
	cv.once.Do(func() {
		cv.compiled, cv.err = cv.compile()
		if cv.err != nil {
			cv.err = fmt.Errorf("embedded CRD %s version %s: %w", cv.crdName, cv.version, cv.err)
		}
	})
	return cv.compiled, cv.err
}

func (cv *crdVersion) compile() (*compiledVersion, error) {
	data, err := cv.read()
	if err != nil {
		return nil, err
	}
	// The same embedded bytes add read: the document is there and is the CRD.
	crd, err := unmarshalCRD(cv.source, splitDocuments(data)[cv.doc])
	if err != nil {
		return nil, err
	}
	for _, v := range crd.Spec.Versions {
		if schema := servedSchema(v); v.Name == cv.version && schema != nil {
			return compileVersion(schema)
		}
	}
	return nil, fmt.Errorf("no schema for version %s in document %d of %s", cv.version, cv.doc, cv.source)
}

func compileVersion(v1schema *apiextensionsv1.JSONSchemaProps) (*compiledVersion, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1schema, internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	validator, _, err := validation.NewSchemaValidator(internal)
	if err != nil {
		return nil, err
	}
	return &compiledVersion{
		structural: structural,
		validator:  validator,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// applySchema defaults and validates a custom resource given as JSON against
// its CRD, returning the defaulted JSON. Kinds without a CRD (core kinds) are
// returned unchanged.
func applySchema(apiVersion, kind string, raw []byte) ([]byte, error) {
	set, err := loadCRDs()
	if err != nil {
		return nil, err
	}
	return set.apply(apiVersion, kind, raw)
}

// apply is applySchema with set's CRDs.
func (set *crdSet) apply(apiVersion, kind string, raw []byte) ([]byte, error) {
	group, version := splitAPIVersion(apiVersion)
	versions, ok := set.byKind[group+"/"+kind]
	if !ok {
		return raw, nil
	}
	v, ok := versions[version]
	if !ok {
		served := make([]string, 0, len(versions))
		for v := range versions {
			served = append(served, group+"/"+v)
		}
		return nil, &FieldError{Field: "apiVersion", Reason: fmt.Sprintf("%s is not served for %s by the CRDs edgeway ships; use one of %s", apiVersion, kind, strings.Join(sortedStrings(served), ", "))}
	}
	cv, err := v.get()
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	defaulting.Default(obj, cv.structural)
	errs := validation.ValidateCustomResource(nil, obj, cv.validator)
	if cv.cel != nil {
		celErrs, _ := cv.cel.Validate(context.Background(), nil, cv.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) > 0 {
		return nil, fieldErrors(errs)
	}
	return json.Marshal(obj)
}

// fieldErrors keeps the first error's field (for the line lookup) and every
// error's text, as the API server prints them.
func fieldErrors(errs field.ErrorList) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return &FieldError{Field: errs[0].Field, Reason: strings.Join(msgs, "; "), fullMessage: true}
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}
