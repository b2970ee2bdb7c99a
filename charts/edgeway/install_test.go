package chart_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestInstallOnRealAPIServer installs the chart with helm into a real kube-apiserver (built from
// the module proxy): the API server applies its own validation (built-in kinds, the CRD schemas
// of crds/, RBAC), the real RBAC authorizer answers what the controller's ServiceAccount may and
// may not do, the admission policy refuses what RBAC cannot, the real controller runs with
// exactly these permissions, an upgrade applies, and uninstall keeps the ServiceEntry CRD.
func TestInstallOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a kube-apiserver")
	}
	srv := apiserver.Start(t)
	// The server's scheme knows the built-in, Gateway API and Istio kinds; add edgeway's own.
	if err := edgewayv1alpha1.AddToScheme(srv.Scheme); err != nil {
		t.Fatal(err)
	}
	c, ctx := srv.Client, context.Background()

	// apiserver.Start installs Istio's ServiceEntry CRD for the controller's tests; here the chart
	// must create it, as in a cluster without Istio.
	seCRD := &apiextensionsv1.CustomResourceDefinition{}
	seCRD.Name = "serviceentries.networking.istio.io"
	if err := c.Delete(ctx, seCRD); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ServiceEntry CRD to be deleted", func() bool {
		return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Name: seCRD.Name}, &apiextensionsv1.CustomResourceDefinition{}))
	})

	kube := []string{"--kubeconfig", srv.Kubeconfig, "--namespace", namespace}
	if _, err := runHelm(t, append([]string{"install", release, ".", "--create-namespace", "-f", valuesFile(t, everythingOn())}, kube...)...); err != nil {
		t.Fatalf("helm install: %v", err)
	}

	var dep appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway"}, &dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas %d", *dep.Spec.Replicas)
	}
	var gc gatewayv1.GatewayClass
	if err := c.Get(ctx, types.NamespacedName{Name: "edgeway"}, &gc); err != nil {
		t.Fatal(err)
	}
	if gc.Spec.ControllerName != "edgeway.dev/gateway-controller" || gc.Spec.ParametersRef == nil {
		t.Errorf("GatewayClass spec %+v", gc.Spec)
	}
	var cfg edgewayv1alpha1.EdgewayConfig
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway-default"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Spec.Replicas == nil || *cfg.Spec.Replicas != 3 {
		t.Errorf("EdgewayConfig spec %+v", cfg.Spec)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: seCRD.Name}, seCRD); err != nil {
		t.Fatalf("serviceEntryCRD.install=true did not create the CRD: %v", err)
	}

	checkAccess(t, c)
	// The controller first: it creates the real xDS CA that the policy checks then update.
	checkControllerRuns(t, srv)
	checkAdmissionPolicy(t, srv)

	// An upgrade applies a changed value.
	if _, err := runHelm(t, append([]string{"upgrade", release, ".", "-f", valuesFile(t, everythingOn()), "--set", "replicaCount=3"}, kube...)...); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway"}, &dep); err != nil || *dep.Spec.Replicas != 3 {
		t.Fatalf("after upgrade: replicas %v, %v", dep.Spec.Replicas, err)
	}

	if _, err := runHelm(t, append([]string{"uninstall", release}, kube...)...); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	waitFor(t, "uninstall to delete the ClusterRole", func() bool {
		return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Name: "edgeway"}, &rbacv1.ClusterRole{}))
	})
	if err := c.Get(ctx, types.NamespacedName{Name: seCRD.Name}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
		t.Errorf("helm uninstall removed the ServiceEntry CRD (helm.sh/resource-policy: keep): %v", err)
	}
	// Helm never deletes what it installed from crds/.
	if err := c.Get(ctx, types.NamespacedName{Name: "edgewayconfigs.gateway.edgeway.dev"}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
		t.Errorf("EdgewayConfig CRD: %v", err)
	}
}

// access is one question to the real RBAC authorizer about the controller's ServiceAccount.
type access struct {
	verb, group, resource, subresource, namespace, name string
	allowed                                             bool
}

func (a access) String() string {
	r := a.resource
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.group != "" {
		r += "." + a.group
	}
	return fmt.Sprintf("%s %s %s/%s", a.verb, r, a.namespace, a.name)
}

// checkAccess asks the API server's authorizer (SubjectAccessReview) what the installed RBAC
// grants the controller: everything it needs, and nothing around it.
func checkAccess(t *testing.T, c client.Client) {
	t.Helper()
	const gw, other = "gateway.networking.k8s.io", "team-a"
	cases := []access{
		// Needed: watch the inputs.
		{"list", gw, "gateways", "", "", "", true},
		{"watch", gw, "httproutes", "", "", "", true},
		{"get", gw, "referencegrants", "", other, "grant", true},
		{"list", "", "secrets", "", "", "", true},
		{"watch", "", "namespaces", "", "", "", true},
		{"watch", "discovery.k8s.io", "endpointslices", "", "", "", true},
		{"list", "networking.istio.io", "serviceentries", "", "", "", true},
		{"get", "gateway.edgeway.dev", "edgewayconfigs", "", namespace, "edgeway-default", true},
		{"watch", "gateway.edgeway.dev", "acmeissuers", "", "", "", true},
		{"get", "gateway.edgeway.dev", "acmeissuers", "", other, "letsencrypt", true},
		// Needed: status, provisioning (server-side apply), leader election, ACK reports, CA.
		{"patch", gw, "gateways", "status", other, "web", true},
		{"patch", gw, "httproutes", "status", other, "r", true},
		{"patch", gw, "gatewayclasses", "status", "", "edgeway", true},
		{"update", gw, "gateways", "finalizers", other, "web", true},
		{"create", "apps", "deployments", "", other, "", true},
		{"patch", "apps", "deployments", "", other, "web-edgeway", true},
		{"patch", "", "services", "", other, "web-edgeway", true},
		{"create", "", "serviceaccounts", "", other, "", true},
		{"patch", "", "secrets", "", other, "web-edgeway-xds", true},
		{"create", "coordination.k8s.io", "leases", "", namespace, "", true},
		{"update", "coordination.k8s.io", "leases", "", namespace, "edgeway-controller-1", true},
		{"create", "", "events", "", namespace, "", true},
		{"create", "", "configmaps", "", namespace, "", true},
		{"delete", "", "configmaps", "", namespace, "edgeway-controller-1-acks-pod", true},
		{"update", "", "secrets", "", namespace, "edgeway-xds-ca", true},
		// Needed: ACME certificates and state (create, server-side apply), events on Gateways.
		{"create", "", "secrets", "", other, "", true},
		{"patch", "", "secrets", "", other, "app-tls", true},
		{"create", "events.k8s.io", "events", "", other, "", true},
		{"patch", "events.k8s.io", "events", "", other, "web.1", true},
		// Needed: the NetworkPolicy per Gateway (applied, watched, deleted when turned off).
		{"watch", "networking.k8s.io", "networkpolicies", "", "", "", true},
		{"create", "networking.k8s.io", "networkpolicies", "", other, "", true},
		{"patch", "networking.k8s.io", "networkpolicies", "", other, "web-edgeway", true},
		{"delete", "networking.k8s.io", "networkpolicies", "", other, "web-edgeway", true},
		{"update", "networking.k8s.io", "networkpolicies", "", other, "web-edgeway", false},
		{"deletecollection", "networking.k8s.io", "networkpolicies", "", other, "", false},
		// Needed: the PodDisruptionBudget per Gateway (applied, watched; never deleted).
		{"watch", "policy", "poddisruptionbudgets", "", "", "", true},
		{"get", "policy", "poddisruptionbudgets", "", other, "web-edgeway", true},
		{"create", "policy", "poddisruptionbudgets", "", other, "", true},
		{"patch", "policy", "poddisruptionbudgets", "", other, "web-edgeway", true},
		{"delete", "policy", "poddisruptionbudgets", "", other, "web-edgeway", false},
		{"update", "policy", "poddisruptionbudgets", "", other, "web-edgeway", false},
		// Not needed, so refused.
		{"update", "gateway.edgeway.dev", "acmeissuers", "", other, "letsencrypt", false},
		{"delete", "events.k8s.io", "events", "", other, "web.1", false},
		{"update", gw, "gateways", "", other, "web", false},
		{"update", gw, "gateways", "status", other, "web", false},
		{"delete", gw, "httproutes", "", other, "r", false},
		{"create", gw, "gatewayclasses", "", "", "", false},
		{"update", "gateway.edgeway.dev", "edgewayconfigs", "", namespace, "edgeway-default", false},
		{"update", "", "secrets", "", other, "tls", false},
		{"delete", "", "secrets", "", other, "web-edgeway-xds", false},
		{"update", "", "secrets", "", namespace, "someone-elses", false},
		{"delete", "", "secrets", "", namespace, "edgeway-xds-ca", false},
		{"delete", "apps", "deployments", "", other, "web-edgeway", false},
		{"update", "", "services", "", other, "web-edgeway", false},
		{"create", "coordination.k8s.io", "leases", "", other, "", false},
		{"create", "", "configmaps", "", other, "", false},
		{"create", "", "events", "", other, "", false},
		{"list", "", "pods", "", "", "", false},
		{"create", "", "pods", "", other, "", false},
		{"get", "", "nodes", "", "", "n1", false},
		{"delete", "", "namespaces", "", "", other, false},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", other, "", false},
		{"update", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "gateways.gateway.networking.k8s.io", false},
	}
	user := "system:serviceaccount:" + namespace + ":edgeway"
	for _, a := range cases {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource,
				Namespace: a.namespace, Name: a.name,
			},
		}}
		if err := c.Create(context.Background(), sar); err != nil {
			t.Fatalf("SubjectAccessReview %s: %v", a, err)
		}
		if sar.Status.Allowed != a.allowed {
			t.Errorf("%s may %s: allowed=%v, want %v (%s)", user, a, sar.Status.Allowed, a.allowed, sar.Status.Reason)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// checkAdmissionPolicy sends real writes as the controller's ServiceAccount (impersonated) and
// checks that the ValidatingAdmissionPolicy lets through what the provisioner writes (objects
// a Gateway controls, the CA Secret) and refuses what RBAC alone would let it do to others'
// objects.
func checkAdmissionPolicy(t *testing.T, srv *apiserver.Server) {
	t.Helper()
	ctx, admin := context.Background(), srv.Client
	const ns = "team-a"
	must(t, admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "edgeway", Listeners: []gatewayv1.Listener{{
			Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80}}},
	}
	must(t, admin.Create(ctx, gw))
	userSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user-tls"}, StringData: map[string]string{"k": "v"}}
	must(t, admin.Create(ctx, userSecret))

	cfg := rest.CopyConfig(srv.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":edgeway",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	sa, err := client.New(cfg, client.Options{Scheme: srv.Scheme})
	must(t, err)

	owned := metav1.OwnerReference{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway", Name: gw.Name, UID: gw.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	secret := func(ns, name string, owners ...metav1.OwnerReference) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners}, Type: corev1.SecretTypeOpaque}
	}

	// The policy is enforced once the API server has loaded it: retry the first refusal.
	stray := secret(ns, "stray")
	waitFor(t, "the admission policy to refuse a Secret no Gateway controls", func() bool {
		err := sa.Create(ctx, stray.DeepCopy())
		if err == nil {
			must(t, admin.Delete(ctx, stray.DeepCopy()))
			return false
		}
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	})
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want refused by the admission policy", what)
		} else if !strings.Contains(err.Error(), "the edgeway controller may only write") {
			t.Errorf("%s: %v, want the admission policy's refusal", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// What the provisioner does (controller/infra): server-side apply of objects the Gateway
	// controls, twice (the second is an update of an object it already controls).
	ownerAC := metav1ac.OwnerReference().WithAPIVersion(owned.APIVersion).WithKind(owned.Kind).WithName(owned.Name).
		WithUID(owned.UID).WithController(true).WithBlockOwnerDeletion(true)
	for range 2 {
		sec := corev1ac.Secret("web-edgeway-xds", ns).WithOwnerReferences(ownerAC).WithType(corev1.SecretTypeTLS).
			WithData(map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")})
		allowed("apply the Gateway's xDS Secret", sa.Apply(ctx, sec, client.FieldOwner("edgeway"), client.ForceOwnership))
		labels := map[string]string{"app": "web"}
		dep := appsv1ac.Deployment("web-edgeway", ns).WithOwnerReferences(ownerAC).WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(corev1ac.PodSpec().
				WithContainers(corev1ac.Container().WithName("dataplane").WithImage("ghcr.io/edgeway/edgeway:0.1.0")))))
		allowed("apply the Gateway's Deployment", sa.Apply(ctx, dep, client.FieldOwner("edgeway"), client.ForceOwnership))
		np := networkingv1ac.NetworkPolicy("web-edgeway", ns).WithOwnerReferences(ownerAC).WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(labels)))
		allowed("apply the Gateway's NetworkPolicy", sa.Apply(ctx, np, client.FieldOwner("edgeway"), client.ForceOwnership))
		pdb := policyv1ac.PodDisruptionBudget("web-edgeway", ns).WithOwnerReferences(ownerAC).WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).WithMaxUnavailable(intstr.FromInt32(1)))
		allowed("apply the Gateway's PodDisruptionBudget", sa.Apply(ctx, pdb, client.FieldOwner("edgeway"), client.ForceOwnership))
	}
	// A budget no Gateway controls could hold every drain of the cluster: refused.
	refused("create a PodDisruptionBudget no Gateway controls", sa.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hold-drains"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{}}}))
	// spec.networkPolicy turned off: the provisioner deletes the NetworkPolicy the Gateway controls,
	// and no other.
	allowed("delete the Gateway's NetworkPolicy", sa.Delete(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-edgeway"}}))
	userPolicy := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deny-all"}}
	must(t, admin.Create(ctx, userPolicy))
	refused("delete a user's NetworkPolicy", sa.Delete(ctx, userPolicy.DeepCopy()))
	refused("create a NetworkPolicy no Gateway controls", sa.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "allow-all"}}))
	// What the ACME manager writes (certs/acme KubeStore): a certificate Secret marked with the
	// issuer annotation and a state Secret with the state label, created, then server-side applied.
	for range 2 {
		crt := corev1ac.Secret("app-tls", ns).WithType(corev1.SecretTypeTLS).
			WithAnnotations(map[string]string{snapshot.ACMEIssuerAnnotation: ns + "/letsencrypt"}).
			WithData(map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")})
		allowed("apply an ACME certificate Secret", sa.Apply(ctx, crt, client.FieldOwner("edgeway-acme"), client.ForceOwnership))
		state := corev1ac.Secret(snapshot.ACMEStateSecretName("app-tls"), ns).WithType(corev1.SecretTypeOpaque).
			WithLabels(map[string]string{snapshot.ACMEStateLabel: "true"}).
			WithData(map[string][]byte{snapshot.ACMEStateKey: []byte(`{"phase":"Pending"}`)})
		allowed("apply an ACME state Secret", sa.Apply(ctx, state, client.FieldOwner("edgeway-acme"), client.ForceOwnership))
		account := corev1ac.Secret("letsencrypt-acme-account", ns).WithType(corev1.SecretTypeOpaque).
			WithLabels(map[string]string{acmeAccountLabel: "true"}).
			WithData(map[string][]byte{"key.pem": []byte("k")})
		allowed("apply an ACME account Secret", sa.Apply(ctx, account, client.FieldOwner("edgeway-acme"), client.ForceOwnership))
	}
	userTLS := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("user cert"), "tls.key": []byte("user key")}}
	must(t, admin.Create(ctx, userTLS))
	refused("mark a user's certificate Secret as ACME's to overwrite it", sa.Patch(ctx, userTLS.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+snapshot.ACMEIssuerAnnotation+`":"team-a/letsencrypt"}},"data":{"tls.crt":"c3RvbGVu"}}`))))
	refused("label a user's Secret as ACME state", sa.Patch(ctx, userSecret.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+snapshot.ACMEStateLabel+`":"true"}}}`))))
	refused("label a user's Secret as an ACME account", sa.Patch(ctx, userSecret.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+acmeAccountLabel+`":"true"}}}`))))

	// The CA Secret of the release namespace (the controller created it): a rotation updates it.
	var ca corev1.Secret
	must(t, admin.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "edgeway-xds-ca"}, &ca))
	metav1.SetMetaDataAnnotation(&ca.ObjectMeta, "test", "rotated")
	allowed("update the CA Secret", sa.Update(ctx, &ca))
	refused("create a Secret of the CA's name elsewhere", sa.Create(ctx, secret(ns, "edgeway-xds-ca")))

	// What RBAC alone would let through.
	refused("create a Secret no Gateway controls", sa.Create(ctx, secret(ns, "stray")))
	refused("create another Secret in the release namespace", sa.Create(ctx, secret(namespace, "other")))
	refused("patch a user's Secret", sa.Patch(ctx, userSecret.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"stringData":{"k":"stolen"}}`))))
	refused("take over a user's Secret with an owner reference", sa.Patch(ctx, userSecret.DeepCopy(),
		client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","name":"web","uid":%q,"controller":true}]}}`, gw.UID)))))
	refused("create a Service no Gateway controls", sa.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}))
	// The user's Secret is untouched.
	var got corev1.Secret
	must(t, admin.Get(ctx, client.ObjectKeyFromObject(userSecret), &got))
	if string(got.Data["k"]) != "v" || len(got.OwnerReferences) != 0 || len(got.Labels) != 0 {
		t.Errorf("the user's Secret changed: %v %v %v", got.Data, got.OwnerReferences, got.Labels)
	}
	must(t, admin.Get(ctx, client.ObjectKeyFromObject(userTLS), &got))
	if string(got.Data["tls.crt"]) != "user cert" || len(got.Annotations) != 0 {
		t.Errorf("the user's certificate Secret changed: %v %v", got.Data, got.Annotations)
	}
}

// acmeAccountLabel is certs/acme.AccountLabel (not imported: the chart tests stay free of lego).
const acmeAccountLabel = "gateway.edgeway.dev/acme-account"

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
