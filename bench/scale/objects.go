package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/deploy"
)

// The objects of the benchmark, all in one namespace.
const (
	namespace   = "edgeway-bench-scale"
	gatewayName = "bench"
	// Two backends: routes are created on echoA; an update moves a route
	// to the other one, and the answer's "service" field says which one
	// served it.
	echoA = "echo-a"
	echoB = "echo-b"
	// hostSuffix of every route's hostname.
	hostSuffix = ".scale.bench"
)

// Route name prefixes: the N routes of a size ("r"), the propagation
// samples ("p"), and the churn's stable-but-flipped ("f") and churning
// ("c") routes.
const (
	prefixScale       = "r"
	prefixPropagation = "p"
	prefixFlip        = "f"
	prefixChurn       = "c"
)

func routeName(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

// hostOf is the hostname a route serves: its name under hostSuffix.
func hostOf(name string) string { return name + hostSuffix }

// httpRoute is a route for hostOf(name), every path, to backend.
func httpRoute(name, backend string) *gwv1.HTTPRoute {
	port := gwv1.PortNumber(80)
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gatewayName}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(hostOf(name))},
			Rules: []gwv1.HTTPRouteRule{{
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
					BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(backend), Port: &port},
				}}},
			}},
		},
	}
}

// backendPatch is the JSON merge patch that points a route made by
// httpRoute at backend instead.
func backendPatch(backend string) []byte {
	return fmt.Appendf(nil, `{"spec":{"rules":[{"backendRefs":[{"name":%q,"port":80}]}]}}`, backend)
}

func benchNamespace() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
}

// gateway has one HTTP listener on port 80 for every hostname; routes of
// its own namespace attach.
func gateway() *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: gatewayName, Namespace: namespace},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: deploy.GatewayClassName,
			Listeners:        []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}},
		},
	}
}

// echoBackend is the conformance suite's echo server (mapped by the local
// cluster's node to a binary built from the module): one replica, and a
// Service on port 80. SERVICE_NAME puts the Service's name in every answer.
func echoBackend(name string) (*appsv1.Deployment, *corev1.Service) {
	labels := map[string]string{"app": name}
	one := int32(1)
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "echo",
					Image: cluster.EchoBasicImage,
					Env: []corev1.EnvVar{
						{Name: "SERVICE_NAME", Value: name},
						{Name: "POD_NAME", ValueFrom: field("metadata.name")},
						{Name: "NAMESPACE", ValueFrom: field("metadata.namespace")},
					},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(3000)},
					}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(3000)}},
		},
	}
	return d, s
}
