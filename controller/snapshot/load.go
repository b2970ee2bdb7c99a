package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	yamlv3 "sigs.k8s.io/yaml/goyaml.v3"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// LoadDir reads every *.yaml, *.yml and *.json file below dir (recursively,
// skipping hidden files and directories) into one sorted Snapshot. Any error in
// any file refuses the whole directory: the caller keeps its last good Snapshot.
func LoadDir(dir string) (*Snapshot, error) {
	files, err := ConfigFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json files found; point --config-dir at a directory of Gateway API YAML", dir)
	}
	return LoadFiles(files...)
}

// ConfigFiles lists the configuration files below dir, sorted.
func ConfigFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading config directory: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// LoadFiles reads the named files (a file may be "-" for none: only real paths)
// into one sorted Snapshot.
func LoadFiles(paths ...string) (*Snapshot, error) {
	snap := &Snapshot{}
	seen := map[string]string{}
	var errs LoadErrors
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, &LoadError{File: p, Reason: err.Error()})
			continue
		}
		errs = append(errs, parseInto(snap, seen, p, data)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	snap.Sort()
	return snap, nil
}

// Parse decodes one multi-document YAML (or JSON) file. filename is only used
// in error messages.
func Parse(filename string, data []byte) (*Snapshot, error) {
	snap := &Snapshot{}
	if errs := parseInto(snap, map[string]string{}, filename, data); len(errs) > 0 {
		return nil, errs
	}
	snap.Sort()
	return snap, nil
}

// parseInto decodes every document of one file into snap. seen maps
// "group/Kind/namespace/name" to where it was defined, to refuse duplicates:
// in a cluster the second would overwrite the first, in a directory it is a
// mistake.
func parseInto(snap *Snapshot, seen map[string]string, filename string, data []byte) LoadErrors {
	var errs LoadErrors
	for _, doc := range splitDocuments(data) {
		if err := decodeDocument(snap, seen, filename, doc); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// document is one YAML document and the 1-based line it starts on in its file.
type document struct {
	startLine int
	text      []byte
}

// splitDocuments splits at lines that are exactly "---" (optionally followed by
// a comment), keeping track of line numbers so errors point into the file.
func splitDocuments(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	cur := document{startLine: 1}
	for i, line := range lines {
		trimmed := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("--- #")) {
			docs = append(docs, cur)
			cur = document{startLine: i + 2}
			continue
		}
		cur.text = append(cur.text, line...)
	}
	docs = append(docs, cur)
	return docs
}

// typeMeta is the part of every object needed to pick its Go type.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func decodeDocument(snap *Snapshot, seen map[string]string, filename string, doc document) *LoadError {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc.text, &root); err != nil {
		line, msg := yamlErrorLine(err.Error())
		return &LoadError{File: filename, Line: doc.startLine + line - 1, Reason: "not valid YAML: " + msg}
	}
	if root.Kind == 0 || (root.Kind == yamlv3.DocumentNode && len(root.Content) == 0) {
		return nil // empty document, e.g. a trailing "---"
	}
	var generic any
	if err := root.Decode(&generic); err != nil {
		return &LoadError{File: filename, Line: doc.startLine, Reason: "not valid YAML: " + shiftYAMLError(err.Error(), doc.startLine-1)}
	}
	if generic == nil {
		return nil
	}
	if _, ok := generic.(map[string]any); !ok {
		return &LoadError{File: filename, Line: doc.startLine + firstLine(&root) - 1, Reason: "expected a Kubernetes object (a mapping with apiVersion and kind)"}
	}
	raw, err := json.Marshal(generic)
	if err != nil {
		return &LoadError{File: filename, Line: doc.startLine, Reason: "cannot convert to JSON: " + err.Error()}
	}
	var tm typeMeta
	_ = json.Unmarshal(raw, &tm)
	objLine := doc.startLine + firstLine(&root) - 1
	lerr := func(reason string, node string) *LoadError {
		line := objLine
		if node != "" {
			if l := findKeyLine(&root, node); l > 0 {
				line = doc.startLine + l - 1
			}
		}
		return &LoadError{File: filename, Line: line, Object: objectName(tm), Reason: reason}
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return lerr("missing apiVersion or kind", "")
	}
	k, ok := kinds[kindKey(tm.APIVersion, tm.Kind)]
	if !ok {
		if tm.Metadata.Namespace == "" {
			tm.Metadata.Namespace = "default"
		}
		return lerr(fmt.Sprintf("unsupported kind %q in apiVersion %q; supported: %s", tm.Kind, tm.APIVersion, supportedKinds()), "kind")
	}
	if k.namespaced && tm.Metadata.Namespace == "" {
		tm.Metadata.Namespace = "default"
	}
	if tm.Metadata.Name == "" {
		return lerr("metadata.name is required", "metadata")
	}
	// Unknown fields first (kubectl's strict field validation), before the
	// schema complains about what the misspelled field left missing.
	if _, err := k.decode(raw); err != nil {
		if reason, field := describeDecodeError(err); strings.HasPrefix(reason, "unknown field") {
			return lerr(reason, field)
		}
	}
	raw, err = applySchema(tm.APIVersion, tm.Kind, raw)
	if err != nil {
		return lerr(err.Error(), fieldOf(err))
	}
	obj, err := k.decode(raw)
	if err != nil {
		reason, field := describeDecodeError(err)
		return lerr(reason, field)
	}
	normalize(obj)
	if err := validateObject(obj); err != nil {
		return lerr(err.Error(), fieldOf(err))
	}
	key := kindKey(tm.APIVersion, tm.Kind) + "/" + tm.Metadata.Namespace + "/" + tm.Metadata.Name
	here := fmt.Sprintf("%s:%d", filename, objLine)
	if first, dup := seen[key]; dup {
		return lerr("defined more than once (first at "+first+"); object names must be unique per kind and namespace", "metadata")
	}
	seen[key] = here
	k.add(snap, obj)
	return nil
}

// strictDecode rejects unknown fields, as kubectl's server-side field validation does.
func strictDecode(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func objectName(tm typeMeta) string {
	if tm.Kind == "" {
		return ""
	}
	if tm.Metadata.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", tm.Kind, tm.Metadata.Namespace, tm.Metadata.Name)
	}
	if tm.Metadata.Name != "" {
		return fmt.Sprintf("%s %s", tm.Kind, tm.Metadata.Name)
	}
	return tm.Kind
}

// Kind registry ---------------------------------------------------------------

type kind struct {
	namespaced bool
	decode     func(raw []byte) (any, error)
	add        func(s *Snapshot, obj any)
}

func kindKey(apiVersion, kind string) string {
	group := apiVersion
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	} else {
		group = "" // core group: "v1"
	}
	return group + "/" + kind
}

// register adds a kind for a group (all served versions decode into the one Go
// type this version of edgeway compiles against).
func register[T any, PT interface {
	*T
	metaObject
}](group, kindName string, namespaced bool, add func(s *Snapshot, obj PT)) {
	kinds[group+"/"+kindName] = kind{
		namespaced: namespaced,
		decode: func(raw []byte) (any, error) {
			obj := PT(new(T))
			if err := strictDecode(raw, obj); err != nil {
				return nil, err
			}
			if namespaced && obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			if !namespaced {
				obj.SetNamespace("")
			}
			if obj.GetGeneration() == 0 {
				obj.SetGeneration(1) // as the API server does on create
			}
			return obj, nil
		},
		add: func(s *Snapshot, obj any) { add(s, obj.(PT)) },
	}
}

type metaObject interface {
	GetNamespace() string
	SetNamespace(string)
	GetName() string
	GetGeneration() int64
	SetGeneration(int64)
}

var kinds = map[string]kind{}

const gatewayGroup = "gateway.networking.k8s.io"

func init() {
	register(gatewayGroup, "GatewayClass", false, func(s *Snapshot, o *gwv1.GatewayClass) { s.GatewayClasses = append(s.GatewayClasses, o) })
	register(gatewayGroup, "Gateway", true, func(s *Snapshot, o *gwv1.Gateway) { s.Gateways = append(s.Gateways, o) })
	register(gatewayGroup, "HTTPRoute", true, func(s *Snapshot, o *gwv1.HTTPRoute) { s.HTTPRoutes = append(s.HTTPRoutes, o) })
	register(gatewayGroup, "GRPCRoute", true, func(s *Snapshot, o *gwv1.GRPCRoute) { s.GRPCRoutes = append(s.GRPCRoutes, o) })
	register(gatewayGroup, "TLSRoute", true, func(s *Snapshot, o *gwv1.TLSRoute) { s.TLSRoutes = append(s.TLSRoutes, o) })
	register(gatewayGroup, "TCPRoute", true, func(s *Snapshot, o *gwv1.TCPRoute) { s.TCPRoutes = append(s.TCPRoutes, o) })
	register(gatewayGroup, "UDPRoute", true, func(s *Snapshot, o *gwv1.UDPRoute) { s.UDPRoutes = append(s.UDPRoutes, o) })
	register(gatewayGroup, "ReferenceGrant", true, func(s *Snapshot, o *gwv1.ReferenceGrant) { s.ReferenceGrants = append(s.ReferenceGrants, o) })
	register(gatewayGroup, "BackendTLSPolicy", true, func(s *Snapshot, o *gwv1.BackendTLSPolicy) { s.BackendTLSPolicies = append(s.BackendTLSPolicies, o) })
	register(gatewayGroup, "ListenerSet", true, func(s *Snapshot, o *gwv1.ListenerSet) { s.ListenerSets = append(s.ListenerSets, o) })
	register("", "Service", true, func(s *Snapshot, o *corev1.Service) { s.Services = append(s.Services, o) })
	register("", "Secret", true, func(s *Snapshot, o *corev1.Secret) { s.Secrets = append(s.Secrets, o) })
	register("", "ConfigMap", true, func(s *Snapshot, o *corev1.ConfigMap) { s.ConfigMaps = append(s.ConfigMaps, o) })
	register("", "Namespace", false, func(s *Snapshot, o *corev1.Namespace) { s.Namespaces = append(s.Namespaces, o) })
	register("discovery.k8s.io", "EndpointSlice", true, func(s *Snapshot, o *discoveryv1.EndpointSlice) { s.EndpointSlices = append(s.EndpointSlices, o) })
	register("networking.istio.io", "ServiceEntry", true, func(s *Snapshot, o *istionet.ServiceEntry) { s.ServiceEntries = append(s.ServiceEntries, o) })
	register(v1alpha1.GroupName, v1alpha1.KindEdgewayConfig, true, func(s *Snapshot, o *v1alpha1.EdgewayConfig) { s.EdgewayConfigs = append(s.EdgewayConfigs, o) })
	register(v1alpha1.GroupName, v1alpha1.KindACMEIssuer, true, func(s *Snapshot, o *v1alpha1.ACMEIssuer) { s.ACMEIssuers = append(s.ACMEIssuers, o) })
}

func supportedKinds() string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		g, n, _ := strings.Cut(k, "/")
		if g == "" {
			g = "core"
		}
		names = append(names, n+" ("+g+")")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
