package infra

import (
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Options are the controller-wide settings of the provisioner (flags of
// `edgeway controller`); an EdgewayConfig overrides the image per class or
// Gateway.
type Options struct {
	// ControllerName is the GatewayClass spec.controllerName served.
	ControllerName string
	// Image is the data plane image when no EdgewayConfig names one; its
	// entrypoint must take `dataplane` and its flags (edgeway-dataplane or
	// the whole edgeway binary).
	Image string
	// ImagePullPolicy when no EdgewayConfig names one ("" : Kubernetes' default).
	ImagePullPolicy corev1.PullPolicy
	// XDSAddress is what data planes dial: the controller's xDS Service,
	// "<service>.<namespace>.svc:<port>" (its name is in the serving
	// certificate).
	XDSAddress string
	// LeafValidity is the lifetime of a data plane client certificate
	// (default ca.DefaultLeafValidity); renewed after two thirds.
	LeafValidity time.Duration
}

// ReservedPorts are the ports the provisioned data plane listens on in
// every Gateway Pod beside the Gateway's listeners: translation refuses a
// listener on one (PortUnavailable), and the Service leaves it out.
func ReservedPorts() []snapshot.ReservedPort {
	return []snapshot.ReservedPort{{Port: adminPort, Owner: "the data plane's admin server (/healthz, /ready, /metrics) in every Gateway Pod"}}
}

// Data plane container constants.
const (
	containerName = "dataplane"
	adminPort     = 19001
	adminPortName = "admin"
	certDir       = "/etc/edgeway/xds"
	certVolume    = "xds-credentials"
	tmpVolume     = "tmp"
	// runAsID is the unprivileged user and group of the data plane (the
	// distroless "nonroot" 65532).
	runAsID = 65532
	// terminationGrace covers the data plane's SIGTERM sequence: readiness
	// fails, --drain-delay (5s), then --drain-timeout (15s) for requests.
	terminationGrace = 30
)

// config is the effective EdgewayConfig of one Gateway: the class's, with
// the fields the Gateway's own spec.infrastructure.parametersRef sets
// taking precedence.
type config struct {
	replicas        *int32
	resources       *corev1.ResourceRequirements
	image           string
	imagePullPolicy corev1.PullPolicy
	serviceType     corev1.ServiceType
	annotations     map[string]string // Service only
	trafficPolicy   corev1.ServiceExternalTrafficPolicy
	addrAnnotation  string
	networkPolicy   networkPolicyConfig
	scheduling      v1alpha1.SchedulingConfig // each field from the last spec that sets it
}

// mergeConfig layers the given specs (nil ones skipped), later ones
// winning field by field, over the defaults of o.
func mergeConfig(o Options, specs ...*v1alpha1.EdgewayConfigSpec) config {
	c := config{image: o.Image, imagePullPolicy: o.ImagePullPolicy, serviceType: corev1.ServiceTypeLoadBalancer}
	for _, s := range specs {
		if s == nil {
			continue
		}
		if s.Replicas != nil {
			c.replicas = s.Replicas
		}
		if s.Resources != nil {
			c.resources = s.Resources
		}
		if s.Image != "" {
			c.image = s.Image
		}
		if s.ImagePullPolicy != "" {
			c.imagePullPolicy = s.ImagePullPolicy
		}
		c.networkPolicy.merge(s.NetworkPolicy)
		c.mergeScheduling(s.Scheduling)
		if sv := s.Service; sv != nil {
			if sv.Type != "" {
				c.serviceType = sv.Type
			}
			if len(sv.Annotations) > 0 {
				if c.annotations == nil {
					c.annotations = map[string]string{}
				}
				maps.Copy(c.annotations, sv.Annotations)
			}
			if sv.ExternalTrafficPolicy != "" {
				c.trafficPolicy = sv.ExternalTrafficPolicy
			}
			if sv.AddressAnnotation != "" {
				c.addrAnnotation = sv.AddressAnnotation
			}
		}
	}
	return c
}

// mergeScheduling takes each field s sets; a list or a map is replaced as a
// whole, not merged (a Gateway's tolerations are the ones it lists).
func (c *config) mergeScheduling(s *v1alpha1.SchedulingConfig) {
	if s == nil {
		return
	}
	if len(s.NodeSelector) > 0 {
		c.scheduling.NodeSelector = s.NodeSelector
	}
	if len(s.Tolerations) > 0 {
		c.scheduling.Tolerations = s.Tolerations
	}
	if s.Affinity != nil {
		c.scheduling.Affinity = s.Affinity
	}
	if len(s.TopologySpreadConstraints) > 0 {
		c.scheduling.TopologySpreadConstraints = s.TopologySpreadConstraints
	}
	if s.PriorityClassName != "" {
		c.scheduling.PriorityClassName = s.PriorityClassName
	}
}
