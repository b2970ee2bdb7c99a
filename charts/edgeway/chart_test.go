package chart_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

func TestLint(t *testing.T) {
	// --strict turns lint warnings (e.g. a missing icon is only INFO, but a deprecated API or
	// a template that does not parse is not) into failures.
	out, err := runHelm(t, "lint", ".", "--strict", "--namespace", namespace)
	if err != nil {
		t.Fatalf("helm lint: %v", err)
	}
	if !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint output:\n%s", out)
	}
	// Every optional object rendered at once must lint too.
	if _, err := runHelm(t, "lint", ".", "--strict", "--namespace", namespace, "-f", valuesFile(t, everythingOn())); err != nil {
		t.Fatalf("helm lint with every option on: %v", err)
	}
}

// everythingOn turns on every optional object of the chart.
func everythingOn() map[string]any {
	return map[string]any{
		"gatewayClass":    map[string]any{"useEdgewayConfig": true},
		"edgewayConfig":   map[string]any{"create": true, "spec": map[string]any{"replicas": 3, "service": map[string]any{"type": "LoadBalancer", "externalTrafficPolicy": "Local"}}},
		"serviceEntryCRD": map[string]any{"install": true},
	}
}

func TestDefaultRender(t *testing.T) {
	r := render(t, nil)
	want := []string{
		"ServiceAccount/edgeway",
		"ClusterRole/edgeway",
		"ClusterRoleBinding/edgeway",
		"Role/edgeway",
		"RoleBinding/edgeway",
		"Service/edgeway-xds",
		"Deployment/edgeway",
		"GatewayClass/edgeway",
		"PodDisruptionBudget/edgeway",
		"ValidatingAdmissionPolicy/edgeway-gateway-owned-writes",
		"ValidatingAdmissionPolicyBinding/edgeway-gateway-owned-writes",
	}
	got := r.kinds()
	if !sameSet(got, want) {
		t.Fatalf("rendered objects:\n got %v\nwant %v", got, want)
	}
	for _, o := range r.objects {
		if m, ok := o.(interface{ GetNamespace() string }); ok {
			kind := o.GetObjectKind().GroupVersionKind().Kind
			cluster := kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "GatewayClass" ||
				strings.HasPrefix(kind, "ValidatingAdmissionPolicy")
			if ns := m.GetNamespace(); cluster != (ns == "") || (!cluster && ns != namespace) {
				t.Errorf("%s: namespace %q", kind, ns)
			}
		}
	}

	dep := one[*appsv1.Deployment](t, r)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", dep.Spec.Replicas)
	}
	if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update must keep every replica serving xDS (maxUnavailable 0): %+v", ru)
	}
	pod := dep.Spec.Template
	if !labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", dep.Spec.Selector.MatchLabels, pod.Labels)
	}
	if pod.Spec.ServiceAccountName != "edgeway" {
		t.Errorf("serviceAccountName = %q", pod.Spec.ServiceAccountName)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("containers: %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Image != "ghcr.io/edgeway/edgeway:0.1.0" {
		t.Errorf("image = %q, want the chart's appVersion", c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "controller" {
		t.Errorf("args = %v, want the controller subcommand first", c.Args)
	}
	for _, a := range []string{"--leader-elect=true", "--xds-address=:18000", "--admin-address=:19000", "--controller-name=edgeway.dev/gateway-controller",
		"--acme=true", "--acme-self-check-timeout=30s"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["xds"] != 18000 || ports["admin"] != 19000 {
		t.Errorf("container ports = %v", ports)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port != intstr.FromString("admin") {
			t.Errorf("%s probe must be an HTTP GET on the admin port: %+v", name, p)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/ready" {
		t.Errorf("probe paths: liveness %s readiness %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	checkRestricted(t, pod.Spec.SecurityContext, c.SecurityContext)
	checkEnvFromField(t, c.Env, "POD_NAMESPACE", "metadata.namespace")
	checkEnvFromField(t, c.Env, "POD_NAME", "metadata.name")

	aa := pod.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Fatalf("want one preferred pod anti-affinity term, got %+v", aa)
	}
	term := aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != "kubernetes.io/hostname" || !labels.SelectorFromSet(term.LabelSelector.MatchLabels).Matches(labels.Set(pod.Labels)) {
		t.Errorf("anti-affinity term does not spread this Deployment's pods over nodes: %+v", term)
	}

	svc := one[*corev1.Service](t, r)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 18000 ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("xds") {
		t.Errorf("xDS Service: %+v", svc.Spec)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("xDS Service selector %v does not select the controller pods %v", svc.Spec.Selector, pod.Labels)
	}

	pdb := one[*policyv1.PodDisruptionBudget](t, r)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 ||
		!labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
		t.Errorf("PodDisruptionBudget: %+v", pdb.Spec)
	}

	gc := one[*gatewayv1.GatewayClass](t, r)
	if gc.Name != "edgeway" || gc.Spec.ControllerName != "edgeway.dev/gateway-controller" || gc.Spec.ParametersRef != nil {
		t.Errorf("GatewayClass: %s %+v", gc.Name, gc.Spec)
	}

	sa := one[*corev1.ServiceAccount](t, r)
	for _, b := range all[*rbacv1.ClusterRoleBinding](r) {
		checkBoundTo(t, b.Subjects, sa)
	}
	for _, b := range all[*rbacv1.RoleBinding](r) {
		checkBoundTo(t, b.Subjects, sa)
	}
}

// checkRestricted asserts the Pod Security Standard "restricted" settings the chart promises.
func checkRestricted(t *testing.T, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.SeccompProfile == nil ||
		pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: %+v", pod)
	}
	if c == nil || c.RunAsNonRoot == nil || !*c.RunAsNonRoot || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem ||
		c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation || c.Capabilities == nil ||
		!slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) != 0 {
		t.Errorf("container securityContext: %+v", c)
	}
}

func checkEnvFromField(t *testing.T, env []corev1.EnvVar, name, path string) {
	t.Helper()
	for _, e := range env {
		if e.Name == name {
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
				t.Errorf("env %s: %+v, want fieldRef %s", name, e, path)
			}
			return
		}
	}
	t.Errorf("env %s missing", name)
}

func checkBoundTo(t *testing.T, subjects []rbacv1.Subject, sa *corev1.ServiceAccount) {
	t.Helper()
	if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || subjects[0].Name != sa.Name || subjects[0].Namespace != sa.Namespace {
		t.Errorf("binding subjects %+v, want only ServiceAccount %s/%s", subjects, sa.Namespace, sa.Name)
	}
}

func TestGatewayClassToggle(t *testing.T) {
	r := render(t, map[string]any{"gatewayClass": map[string]any{"create": false}})
	if n := len(all[*gatewayv1.GatewayClass](r)); n != 0 {
		t.Fatalf("gatewayClass.create=false rendered %d GatewayClass", n)
	}
	r = render(t, map[string]any{"gatewayClass": map[string]any{"name": "public"}, "controllerName": "example.com/edge"})
	gc := one[*gatewayv1.GatewayClass](t, r)
	if gc.Name != "public" || gc.Spec.ControllerName != "example.com/edge" {
		t.Fatalf("GatewayClass %s controllerName %s", gc.Name, gc.Spec.ControllerName)
	}
	dep := one[*appsv1.Deployment](t, r)
	if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--controller-name=example.com/edge") {
		t.Fatalf("the controller must serve the class's controllerName: %v", dep.Spec.Template.Spec.Containers[0].Args)
	}
}

func TestEdgewayConfigAndParametersRef(t *testing.T) {
	r := render(t, everythingOn())
	cfg := one[*edgewayv1alpha1.EdgewayConfig](t, r)
	if cfg.Namespace != namespace || cfg.Name != "edgeway-default" || cfg.Spec.Replicas == nil || *cfg.Spec.Replicas != 3 ||
		cfg.Spec.Service == nil || cfg.Spec.Service.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Fatalf("EdgewayConfig: %s/%s %+v", cfg.Namespace, cfg.Name, cfg.Spec)
	}
	gc := one[*gatewayv1.GatewayClass](t, r)
	ref := gc.Spec.ParametersRef
	if ref == nil || ref.Group != edgewayv1alpha1.GroupName || ref.Kind != edgewayv1alpha1.KindEdgewayConfig ||
		ref.Name != cfg.Name || ref.Namespace == nil || string(*ref.Namespace) != cfg.Namespace {
		t.Fatalf("parametersRef %+v does not name the EdgewayConfig %s/%s", ref, cfg.Namespace, cfg.Name)
	}
	// The object the chart creates must pass the CRD the chart installs (schema and defaults,
	// as the API server applies them).
	validateAgainstCRD(t, cfg)

	// Without useEdgewayConfig the config is created but the class does not point at it.
	r = render(t, map[string]any{"edgewayConfig": map[string]any{"create": true}})
	one[*edgewayv1alpha1.EdgewayConfig](t, r)
	if ref := one[*gatewayv1.GatewayClass](t, r).Spec.ParametersRef; ref != nil {
		t.Fatalf("parametersRef %+v without gatewayClass.useEdgewayConfig", ref)
	}
}

func TestServiceEntryCRDOnlyOnRequest(t *testing.T) {
	for _, o := range render(t, nil).objects {
		if _, ok := o.(*apiextensionsv1.CustomResourceDefinition); ok {
			t.Fatal("a CRD rendered from templates/ with serviceEntryCRD.install=false")
		}
	}
	crd := one[*apiextensionsv1.CustomResourceDefinition](t, render(t, map[string]any{"serviceEntryCRD": map[string]any{"install": true}}))
	if crd.Name != "serviceentries.networking.istio.io" || crd.Spec.Group != "networking.istio.io" {
		t.Fatalf("CRD %s group %s", crd.Name, crd.Spec.Group)
	}
	if crd.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("annotations %v: want helm.sh/resource-policy: keep (uninstall must not delete users' ServiceEntries)", crd.Annotations)
	}
	served := map[string]bool{}
	for _, v := range crd.Spec.Versions {
		served[v.Name] = v.Served
	}
	if !served["v1"] {
		t.Errorf("networking.istio.io/v1 not served: %v", served)
	}
	// Rendering through fromYaml/toYaml must not change the schema: compare with the file
	// hack/sync-crds.sh copied from istio.io/api.
	// (Istio's file carries the keep annotation itself today; the template guarantees it.)
	want := readCRD(t, "files/networking.istio.io_serviceentries.yaml")
	if want.Annotations == nil {
		want.Annotations = map[string]string{}
	}
	want.Annotations["helm.sh/resource-policy"] = "keep"
	if !equalJSON(t, crd.Spec, want.Spec) || !equalJSON(t, crd.ObjectMeta, want.ObjectMeta) {
		t.Error("the rendered ServiceEntry CRD differs from files/networking.istio.io_serviceentries.yaml")
	}
}

func TestSingleReplicaHasNoPDB(t *testing.T) {
	r := render(t, map[string]any{"replicaCount": 1})
	if n := len(all[*policyv1.PodDisruptionBudget](r)); n != 0 {
		t.Fatalf("a PodDisruptionBudget over one replica would block every node drain; got %d", n)
	}
	if *one[*appsv1.Deployment](t, r).Spec.Replicas != 1 {
		t.Fatal("replicaCount 1 not honoured")
	}
	// One replica may run without leader election.
	r = render(t, map[string]any{"replicaCount": 1, "leaderElection": map[string]any{"enabled": false}})
	if !slices.Contains(one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0].Args, "--leader-elect=false") {
		t.Fatal("leaderElection.enabled=false not passed to the controller")
	}
}

func TestRBACCanBeLeftToTheAdmin(t *testing.T) {
	r := render(t, map[string]any{"rbac": map[string]any{"create": false}, "serviceAccount": map[string]any{"create": false, "name": "prepared"}})
	for _, k := range r.kinds() {
		if strings.HasPrefix(k, "ClusterRole") || strings.HasPrefix(k, "Role") || strings.HasPrefix(k, "ServiceAccount") {
			t.Errorf("rendered %s with rbac.create=false and serviceAccount.create=false", k)
		}
	}
	if sa := one[*appsv1.Deployment](t, r).Spec.Template.Spec.ServiceAccountName; sa != "prepared" {
		t.Errorf("serviceAccountName = %q, want the existing one", sa)
	}
}

func TestImageDigestAndAntiAffinityPresets(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	r := render(t, map[string]any{"image": map[string]any{"digest": digest, "tag": "ignored"}, "podAntiAffinity": "hard"})
	spec := one[*appsv1.Deployment](t, r).Spec.Template.Spec
	if img := spec.Containers[0].Image; img != "ghcr.io/edgeway/edgeway@"+digest {
		t.Errorf("image = %q, want the digest", img)
	}
	if aa := spec.Affinity.PodAntiAffinity; len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Errorf("hard anti-affinity: %+v", aa)
	}
	r = render(t, map[string]any{"podAntiAffinity": "none"})
	if aff := one[*appsv1.Deployment](t, r).Spec.Template.Spec.Affinity; aff != nil {
		t.Errorf("podAntiAffinity none: affinity %+v", aff)
	}
}

func TestACMEValuesReachTheController(t *testing.T) {
	r := render(t, map[string]any{"acme": map[string]any{"enabled": false, "selfCheckTimeout": "1m30s"}})
	args := one[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"--acme=false", "--acme-self-check-timeout=1m30s"} {
		if !slices.Contains(args, a) {
			t.Errorf("args %v lack %s", args, a)
		}
	}
}
