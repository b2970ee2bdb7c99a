package cluster

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The cluster DNS runs in this process on the gateway (pods' resolv.conf
// names it there). Software that looks for the cluster's DNS the usual way
// finds kube-system/kube-dns, with the ClusterIP kubeadm would give it (the
// tenth address of the Service CIDR) and a selector-less Service's manual
// EndpointSlice pointing at the gateway, so the service proxy serves the
// ClusterIP too.

// kubeDNSManager marks the EndpointSlice as the cluster's own, so the
// EndpointSlice controllers leave it alone.
const kubeDNSManager = "edgeway-cluster"

func createKubeDNS(ctx context.Context, client kubernetes.Interface, clusterIP, gateway netip.Addr) error {
	labels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53},
			},
		},
	}
	if _, err := client.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster: create Service kube-system/kube-dns with ClusterIP %s: %w", clusterIP, err)
	}
	sliceLabels := map[string]string{
		discoveryv1.LabelServiceName: "kube-dns",
		discoveryv1.LabelManagedBy:   kubeDNSManager,
	}
	for k, v := range labels {
		sliceLabels[k] = v
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem, Labels: sliceLabels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{gateway.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To[int32](53)},
			{Name: ptr.To("dns-tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](53)},
		},
	}
	if _, err := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster: create EndpointSlice kube-system/kube-dns: %w", err)
	}
	return nil
}
