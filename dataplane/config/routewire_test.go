package config

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// decodeLikeUnmarshal decodes b with d and with proto.Unmarshal and fails
// unless both give the same message or the same error.
func decodeLikeUnmarshal(t *testing.T, d *RouteDecoder, b []byte) (*routev3.RouteConfiguration, []string) {
	t.Helper()
	var want routev3.RouteConfiguration
	wantErr := proto.Unmarshal(b, &want)
	got, wire, err := d.Decode(b)
	d.Done()
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("Decode: error %v, proto.Unmarshal: %v", err, wantErr)
	}
	if err != nil {
		return nil, nil
	}
	if !proto.Equal(got, &want) {
		t.Fatalf("Decode: %v\nproto.Unmarshal: %v", got, &want)
	}
	if wire != nil && len(wire) != len(got.GetVirtualHosts()) {
		t.Fatalf("%d wire forms for %d virtual hosts", len(wire), len(got.GetVirtualHosts()))
	}
	for i, w := range wire {
		var vh routev3.VirtualHost
		if err := proto.Unmarshal([]byte(w), &vh); err != nil || !proto.Equal(&vh, got.GetVirtualHosts()[i]) {
			t.Fatalf("wire form %d does not decode to virtual host %d (%v)", i, i, err)
		}
	}
	return got, wire
}

// TestRouteDecoderReusesUnchangedVirtualHosts: the second decode of a
// route configuration with one virtual host changed shares the unchanged
// virtual hosts' messages with the first and decodes the changed one anew;
// both decodes equal proto.Unmarshal's, unknown fields and fields between
// the virtual hosts included.
func TestRouteDecoderReusesUnchangedVirtualHosts(t *testing.T) {
	rc := cacheResources(map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"}).Routes["rc"]
	rc.ValidateClusters = nil
	first, err := proto.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown field, and a known one after the virtual hosts.
	first = protowire.AppendTag(first, 1000, protowire.VarintType)
	first = protowire.AppendVarint(first, 7)
	first = protowire.AppendTag(first, 1, protowire.BytesType)
	first = protowire.AppendString(first, "rc-renamed")

	rc.VirtualHosts[2].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "d"}
	second, err := proto.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}

	var d RouteDecoder
	m1, w1 := decodeLikeUnmarshal(t, &d, first)
	if m1.GetName() != "rc-renamed" || len(m1.ProtoReflect().GetUnknown()) == 0 {
		t.Fatalf("the fields around the virtual hosts were lost: name %q, unknown %x", m1.GetName(), m1.ProtoReflect().GetUnknown())
	}
	m2, w2 := decodeLikeUnmarshal(t, &d, second)
	if len(w1) != 3 || len(w2) != 3 {
		t.Fatalf("wire forms %d and %d, want 3 each", len(w1), len(w2))
	}
	for i := range 2 {
		if m1.VirtualHosts[i] != m2.VirtualHosts[i] || w1[i] != w2[i] {
			t.Errorf("virtual host %d is unchanged but was decoded again", i)
		}
	}
	if m1.VirtualHosts[2] == m2.VirtualHosts[2] || w1[2] == w2[2] {
		t.Error("the changed virtual host 2 was reused")
	}

	// Reuse reaches back one batch only: a decode of something else in
	// between forgets the first one's virtual hosts.
	decodeLikeUnmarshal(t, &d, nil)
	m3, _ := decodeLikeUnmarshal(t, &d, second)
	if m3.VirtualHosts[0] == m2.VirtualHosts[0] {
		t.Error("a virtual host two batches old was reused")
	}
}

// TestRouteDecoderRefusesLikeUnmarshal: bytes that do not decode give
// proto.Unmarshal's error, also when only a virtual host is broken.
func TestRouteDecoderRefusesLikeUnmarshal(t *testing.T) {
	good, err := proto.Marshal(cacheResources(map[string]string{}).Routes["rc"])
	if err != nil {
		t.Fatal(err)
	}
	brokenVH := protowire.AppendTag(nil, virtualHostsField, protowire.BytesType)
	brokenVH = protowire.AppendBytes(brokenVH, []byte{0x0a, 0x05, 'a'}) // name longer than its bytes
	badUTF8 := protowire.AppendTag(nil, virtualHostsField, protowire.BytesType)
	badUTF8 = protowire.AppendBytes(badUTF8, protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff"))
	wrongType := protowire.AppendTag(nil, virtualHostsField, protowire.VarintType)
	wrongType = protowire.AppendVarint(wrongType, 3)
	for name, b := range map[string][]byte{
		"truncated":                 good[:len(good)-3],
		"broken virtual host":       append(append([]byte{}, good...), brokenVH...),
		"virtual host name no utf8": append(append([]byte{}, good...), badUTF8...),
		"virtual_hosts as varint":   append(append([]byte{}, good...), wrongType...),
		"bad tag":                   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		t.Run(name, func(t *testing.T) {
			var d RouteDecoder
			decodeLikeUnmarshal(t, &d, good)
			decodeLikeUnmarshal(t, &d, b)
		})
	}
}

// FuzzRouteDecoder: a RouteDecoder fed every fuzz input in turn decodes
// each like proto.Unmarshal (same message, or the same error).
func FuzzRouteDecoder(f *testing.F) {
	b, err := proto.Marshal(cacheResources(map[string]string{"a.example": "c", "b.example": "d", "c.example": "c"}).Routes["rc"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	var d RouteDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeLikeUnmarshal(t, &d, data)
	})
}
