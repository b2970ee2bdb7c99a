package node

import (
	"context"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// objects reads the Secrets and ConfigMaps a pod refers to, each at most
// once per pod start (so a container sees one version of each).
type objects struct {
	client     kubernetes.Interface
	ns         string
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func newObjects(c kubernetes.Interface, ns string) *objects {
	return &objects{client: c, ns: ns, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
}

// secret returns the named Secret, or nil when it does not exist.
func (o *objects) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	s, err := o.client.CoreV1().Secrets(o.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", o.ns, name, err)
	}
	o.secrets[name] = s
	return s, nil
}

// configMap returns the named ConfigMap, or nil when it does not exist.
func (o *objects) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if c, ok := o.configMaps[name]; ok {
		return c, nil
	}
	c, err := o.client.CoreV1().ConfigMaps(o.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", o.ns, name, err)
	}
	o.configMaps[name] = c
	return c, nil
}

// configMapValue is a ConfigMap key's value from data or binaryData.
func configMapValue(cm *corev1.ConfigMap, key string) ([]byte, bool) {
	if v, ok := cm.Data[key]; ok {
		return []byte(v), true
	}
	v, ok := cm.BinaryData[key]
	return v, ok
}

// podFacts are the pod's values known only once it runs here.
type podFacts struct {
	podIP, hostIP string
	// allocatable answers resourceFieldRef for unset limits, as the kubelet
	// answers with the node's allocatable resources.
	allocatable corev1.ResourceList
}

// containerEnv resolves a container's environment in Kubernetes' order:
// the service link variables (base), envFrom sources, then env entries
// (later ones win, and an env value may refer to variables defined before
// it as $(NAME)). The result is NAME=value strings in definition order,
// without duplicates.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, base []string, facts podFacts, objs *objects) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := objs.configMap(ctx, from.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("container %q: envFrom configMapRef: ConfigMap %s/%s does not exist; create it or mark the reference optional", c.Name, pod.Namespace, from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := objs.secret(ctx, from.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("container %q: envFrom secretRef: Secret %s/%s does not exist; create it or mark the reference optional", c.Name, pod.Namespace, from.SecretRef.Name)
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		v, ok, err := envSource(ctx, pod, c, e, facts, objs)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, nil
}

func optional(b *bool) bool { return b != nil && *b }

// envSource resolves one env entry's valueFrom; ok is false for an optional
// reference to something missing (the variable is then not set).
func envSource(ctx context.Context, pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, facts podFacts, objs *objects) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := podField(pod, vf.FieldRef.FieldPath, facts)
		if err != nil {
			return "", false, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
		}
		return v, true, nil
	case vf.ResourceFieldRef != nil:
		v, err := resourceField(pod, c, vf.ResourceFieldRef, facts)
		if err != nil {
			return "", false, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s, err := objs.secret(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if s == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: Secret %s/%s does not exist; create it or mark the reference optional", c.Name, e.Name, pod.Namespace, ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: Secret %s/%s has no key %q", c.Name, e.Name, pod.Namespace, ref.Name, ref.Key)
		}
		return string(v), true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := objs.configMap(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: ConfigMap %s/%s does not exist; create it or mark the reference optional", c.Name, e.Name, pod.Namespace, ref.Name)
		}
		v, ok := configMapValue(cm, ref.Key)
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("container %q: env %s: ConfigMap %s/%s has no key %q", c.Name, e.Name, pod.Namespace, ref.Name, ref.Key)
		}
		return string(v), true, nil
	}
	return "", false, fmt.Errorf("container %q: env %s: valueFrom sets no source this node supports (fieldRef, resourceFieldRef, secretKeyRef, configMapKeyRef)", c.Name, e.Name)
}

// podField answers a downward API fieldRef.
func podField(pod *corev1.Pod, path string, facts podFacts) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return facts.podIP, nil
	case "status.hostIP", "status.hostIPs":
		return facts.hostIP, nil
	}
	return "", fmt.Errorf("fieldRef %q is not a downward API field this node supports (metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP(s))", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as a downward API volume does:
// one key="value" line per entry, sorted by key, values quoted Go-style.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceField answers a resourceFieldRef: the container's limit or
// request (a missing limit is the node's allocatable amount), divided by the
// divisor and rounded up, as the kubelet does.
func resourceField(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, facts podFacts) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				c = &pod.Spec.Containers[i]
			}
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef %q: want limits.<resource> or requests.<resource>", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	var q resource.Quantity
	var found bool
	if kind == "limits" {
		q, found = c.Resources.Limits[rn]
	} else {
		q, found = c.Resources.Requests[rn]
	}
	if !found {
		if kind == "requests" {
			q = resource.Quantity{}
		} else {
			q = facts.allocatable[rn]
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// expand replaces $(NAME) by vars[NAME] as Kubernetes does for env values,
// command and args: $$ is a literal $, and a reference to an undefined name
// stays as written.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envMap turns NAME=value strings into a map (last wins), for expand.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// serviceEnv is the service link variables the kubelet gives a container:
// those of the kubernetes Service in default always, and with
// enableServiceLinks (the default) those of every Service with a ClusterIP
// in the pod's namespace, in the docker links format.
func serviceEnv(pod *corev1.Pod, services corelisters.ServiceLister) []string {
	if services == nil {
		return nil
	}
	var list []*corev1.Service
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, _ = services.Services(pod.Namespace).List(labels.Everything())
	}
	if pod.Namespace != metav1.NamespaceDefault {
		if k, err := services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			list = append(list, k)
		}
	} else if pod.Spec.EnableServiceLinks != nil && !*pod.Spec.EnableServiceLinks {
		if k, err := services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			list = append(list, k)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	var env []string
	for _, svc := range list {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		first := svc.Spec.Ports[0]
		env = append(env,
			fmt.Sprintf("%s_SERVICE_HOST=%s", name, ip),
			fmt.Sprintf("%s_SERVICE_PORT=%d", name, first.Port))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				env = append(env, fmt.Sprintf("%s_SERVICE_PORT_%s=%d", name, strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), p.Port))
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		env = append(env, fmt.Sprintf("%s_PORT=%s://%s", name, proto, net.JoinHostPort(ip, fmt.Sprint(first.Port))))
		for _, p := range svc.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(pr))
			env = append(env,
				fmt.Sprintf("%s=%s://%s", prefix, pr, net.JoinHostPort(ip, fmt.Sprint(p.Port))),
				fmt.Sprintf("%s_PROTO=%s", prefix, pr),
				fmt.Sprintf("%s_PORT=%d", prefix, p.Port),
				fmt.Sprintf("%s_ADDR=%s", prefix, ip))
		}
	}
	return env
}
