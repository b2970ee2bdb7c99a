package kube

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	// ControllerName names the leader election Lease (two controllers with
	// different names elect separately).
	ControllerName string
	// LeaderElection: only the elected replica runs the runnables that need
	// it (the status writer, the infrastructure provisioner); every replica
	// translates and serves xDS.
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaderElectionID overrides the Lease name (default: LeaseName).
	LeaderElectionID string
	// LeaseDuration, RenewDeadline, RetryPeriod: 0 means controller-runtime's
	// defaults (15s, 10s, 2s); tests shorten them.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       *slog.Logger
}

// LeaseName is the leader election Lease of a controller name.
func LeaseName(controllerName string) string {
	h := fnv.New32a()
	h.Write([]byte(controllerName))
	return fmt.Sprintf("edgeway-controller-%08x", h.Sum32())
}

// NewManager returns a manager whose cache holds only what translation can
// use (see CacheOptions). Its metrics and health servers are off: the
// controller's admin endpoint serves /metrics (controller-runtime's
// registry), /healthz and /ready itself.
func NewManager(cfg *rest.Config, o ManagerOptions) (manager.Manager, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	logger := logr.FromSlogHandler(o.Log.Handler())
	ctrllog.SetLogger(logger)
	id := o.LeaderElectionID
	if id == "" {
		id = LeaseName(o.ControllerName)
	}
	opts := manager.Options{
		Scheme:                        NewScheme(),
		Logger:                        logger,
		Cache:                         CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              id,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true, // a stopping leader hands over at once
	}
	if o.LeaseDuration > 0 {
		opts.LeaseDuration = &o.LeaseDuration
	}
	if o.RenewDeadline > 0 {
		opts.RenewDeadline = &o.RenewDeadline
	}
	if o.RetryPeriod > 0 {
		opts.RetryPeriod = &o.RetryPeriod
	}
	return manager.New(cfg, opts)
}

// unreferencedSecretTypes can never be a certificate or CA bundle a Gateway
// or policy refers to, and can be large or numerous (Helm keeps every
// release in a Secret): the cache leaves them out with a field selector.
var unreferencedSecretTypes = []corev1.SecretType{
	"helm.sh/release.v1",
	corev1.SecretTypeServiceAccountToken,
	corev1.SecretTypeDockercfg,
	corev1.SecretTypeDockerConfigJson,
	corev1.SecretTypeBootstrapToken,
}

// CacheOptions narrow the informer cache to what translation needs:
//
//   - managedFields are stripped from every object (never read, often the
//     largest part of an object);
//
//   - Secrets: all but the types above (field selector type!=...); only the
//     referenced ones are ever copied into a Snapshot (refs.go);
//
//   - EndpointSlices: only those of a Service (label kubernetes.io/service-name
//     present), the only ones a backendRef can reach;
//
//   - Namespaces are watched as metadata only (allowedRoutes selects by
//     labels), see watch.go.
//
//   - Deployments, ServiceAccounts, NetworkPolicies and PodDisruptionBudgets:
//     only edgeway's own (ManagedBySelector):
//     the provisioner (controller/infra) owns them and reads anything else
//     through the uncached API reader, so a foreign object is still seen.
//
// ConfigMaps and Services cannot be narrowed by the API (no field or label
// singles out CA bundles or backends); the cache holds them and the
// Snapshot takes only the referenced ones.
func CacheOptions() cache.Options {
	var secretSel []fields.Selector
	for _, t := range unreferencedSecretTypes {
		secretSel = append(secretSel, fields.OneTermNotEqualSelector("type", string(t)))
	}
	hasService, err := labels.NewRequirement(serviceNameLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant requirement
	}
	ours := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByValue})
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:                {Field: fields.AndSelectors(secretSel...)},
			&discoveryv1.EndpointSlice{}:    {Label: labels.NewSelector().Add(*hasService)},
			&appsv1.Deployment{}:            {Label: ours},
			&corev1.ServiceAccount{}:        {Label: ours},
			&networkingv1.NetworkPolicy{}:   {Label: ours},
			&policyv1.PodDisruptionBudget{}: {Label: ours},
		},
	}
}

// ManagedByLabel/ManagedByValue mark the objects edgeway provisions
// (controller/infra sets them; a test there keeps the two in step).
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "edgeway"
)
