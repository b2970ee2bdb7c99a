package kube

import (
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// NewScheme knows every kind the controller reads or writes: the built-in
// kinds (core, discovery, apps, coordination), Gateway API v1 (every kind
// edgeway translates is served as v1 by gateway-api v1.6.3), Istio
// networking v1 (ServiceEntry) and edgeway's own gateway.edgeway.dev.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		gwv1.Install,
		istionet.AddToScheme,
		v1alpha1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}
