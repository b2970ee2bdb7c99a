package serviceproxy

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// Which endpoints a Service port gets: by port name and protocol, ready
// ones, else serving+terminating ones, unique and sorted, and never an
// address outside the pod block (the proxy must not send a packet there).
func TestEndpointsFor(t *testing.T) {
	podBlock := netip.MustParsePrefix("198.18.0.0/20")
	ep := func(ip string, ready, serving, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating}}
	}
	port := func(name string, n int32, proto corev1.Protocol) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(n), Protocol: ptr.To(proto)}
	}
	slice := func(ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: eps}
	}
	web := corev1.ServicePort{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP}
	webPorts := []discoveryv1.EndpointPort{port("dns", 53, corev1.ProtocolUDP), port("web", 8080, corev1.ProtocolTCP)}
	T, F := ptr.To(true), ptr.To(false)

	for _, tc := range []struct {
		name        string
		slices      []*discoveryv1.EndpointSlice
		want        []string
		wantSkipped []string
	}{
		{
			name: "ready (set or unset) across slices, unique and sorted; not ready left out",
			slices: []*discoveryv1.EndpointSlice{
				slice(webPorts, ep("198.18.0.9", T, nil, nil), ep("198.18.0.3", nil, nil, nil), ep("198.18.0.4", F, F, nil)),
				slice(webPorts, ep("198.18.0.3", T, T, nil)),
			},
			want: []string{"198.18.0.3:8080", "198.18.0.9:8080"},
		},
		{
			name: "nothing ready: serving and terminating ones",
			slices: []*discoveryv1.EndpointSlice{
				slice(webPorts, ep("198.18.0.5", F, T, T), ep("198.18.0.6", F, F, T), ep("198.18.0.7", F, T, F)),
			},
			want: []string{"198.18.0.5:8080"},
		},
		{
			name: "ready ones win over terminating ones",
			slices: []*discoveryv1.EndpointSlice{
				slice(webPorts, ep("198.18.0.5", F, T, T), ep("198.18.0.6", T, T, nil)),
			},
			want: []string{"198.18.0.6:8080"},
		},
		{
			name: "no port of that name and protocol",
			slices: []*discoveryv1.EndpointSlice{
				slice([]discoveryv1.EndpointPort{port("web", 8080, corev1.ProtocolUDP), port("other", 8080, corev1.ProtocolTCP)}, ep("198.18.0.5", T, nil, nil)),
			},
		},
		{
			name: "addresses outside the pod block are skipped",
			slices: []*discoveryv1.EndpointSlice{
				slice(webPorts, ep("10.1.2.3", T, nil, nil), ep("192.0.2.1", T, nil, nil), ep("198.18.0.5", T, nil, nil)),
				{AddressType: discoveryv1.AddressTypeIPv6, Ports: webPorts, Endpoints: []discoveryv1.Endpoint{ep("fd00::1", T, nil, nil)}},
			},
			want:        []string{"198.18.0.5:8080"},
			wantSkipped: []string{"10.1.2.3", "192.0.2.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, skipped := endpointsFor(web, tc.slices, podBlock.Contains)
			var got []string
			for _, e := range eps {
				got = append(got, e.String())
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(skipped, tc.wantSkipped) {
				t.Errorf("endpoints %v, skipped %v; want %v, skipped %v", got, skipped, tc.want, tc.wantSkipped)
			}
		})
	}
}

// A name-less Service port matches the name-less EndpointSlice port.
func TestEndpointsForUnnamedPort(t *testing.T) {
	sp := corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}
	s := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To(int32(8080))}}, // name and protocol unset: "" and TCP
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.5"}}},
	}
	eps, _ := endpointsFor(sp, []*discoveryv1.EndpointSlice{s}, func(netip.Addr) bool { return true })
	if len(eps) != 1 || eps[0].String() != "198.18.0.5:8080" {
		t.Errorf("endpoints %v; want [198.18.0.5:8080]", eps)
	}
}
