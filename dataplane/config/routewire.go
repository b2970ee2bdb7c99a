package config

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// virtualHostsField is RouteConfiguration.virtual_hosts's field number.
const virtualHostsField protowire.Number = 2

// RouteDecoder decodes RouteConfigurations from their wire form with the
// result of proto.Unmarshal, but decodes only the virtual hosts whose bytes
// differ from those of the route configuration of the same name in the
// last batch: the others are the message decoded then, shared (messages of
// Resources are read-only). A route configuration is one xDS resource, so a
// change of one route resends all of its virtual hosts; at 5000 of them,
// decoding the unchanged ones was a third of the data plane's work per
// change, and finding them in a map by their bytes, hashing every byte of
// every virtual host twice per change, was most of what remained. So the
// new virtual hosts are compared in order with the last ones (aligner): an
// unchanged virtual host costs one comparison of its bytes, which stops at
// the first byte when they are the same string (the one kept from the last
// batch).
//
// Equal bytes decode to equal messages, so reuse never changes a result.
// Not safe for concurrent use.
//
// A route configuration whose name was not in the last batch (a new or a
// renamed one) finds its virtual hosts among all of the last batch's by
// their bytes instead, in a map built for that case only.
type RouteDecoder struct {
	last map[string]decodedHosts // by route configuration name, of the last batch
	cur  map[string]decodedHosts // of the batch in progress
	// byWire indexes last's virtual hosts by their wire form, built when
	// a route configuration of a new name first needs it; nil until then.
	byWire map[string]wireHost
	spans  []span // scratch of decodeReusing, kept for the next decode
}

// decodedHosts are the virtual hosts of one decoded route configuration and
// their wire forms, index for index.
type decodedHosts struct {
	wire  []string
	hosts []*routev3.VirtualHost
}

// Decode decodes one RouteConfiguration. It also returns the wire form of
// each virtual host, index for index: the key by which a Compiler finds
// the virtual hosts it compiled before (Resources.RouteWire).
func (d *RouteDecoder) Decode(b []byte) (*routev3.RouteConfiguration, []string, error) {
	if d.cur == nil {
		d.cur = make(map[string]decodedHosts, len(d.last))
	}
	rc, wire, ok := d.decodeReusing(b)
	if ok {
		return rc, wire, nil
	}
	// Whatever the scan could not take apart gets proto.Unmarshal's own
	// result and error, so that a NACK says what it always said.
	rc = &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(b, rc); err != nil {
		return nil, nil, err
	}
	return rc, nil, nil
}

// Done ends a batch (the route configurations of one xDS response): its
// virtual hosts are the ones the next batch may reuse.
func (d *RouteDecoder) Done() {
	d.last, d.cur, d.byWire = d.cur, nil, nil
}

// lastByWire finds a virtual host of the last batch, and the wire form
// kept with it, by its bytes.
func (d *RouteDecoder) lastByWire(raw []byte) (string, *routev3.VirtualHost, bool) {
	if d.byWire == nil {
		d.byWire = map[string]wireHost{}
		for _, l := range d.last {
			for i, w := range l.wire {
				d.byWire[w] = wireHost{w, l.hosts[i]}
			}
		}
	}
	h, ok := d.byWire[string(raw)]
	return h.wire, h.vh, ok
}

// wireHost is a decoded virtual host with its wire form.
type wireHost struct {
	wire string
	vh   *routev3.VirtualHost
}

// vhostUnmarshal decodes a virtual host alone with the depth left to it
// inside a RouteConfiguration, so that nesting proto.Unmarshal refuses is
// refused here too.
var vhostUnmarshal = proto.UnmarshalOptions{RecursionLimit: protowire.DefaultRecursionLimit - 1}

// span is where one virtual host's bytes are in a route configuration's.
type span struct{ start, end int }

// decodeReusing splits b into the virtual hosts and everything else, which
// is decoded as one message; ok is false for bytes it cannot take apart or
// decode (the caller then reports proto.Unmarshal's error).
func (d *RouteDecoder) decodeReusing(b []byte) (rc *routev3.RouteConfiguration, wire []string, ok bool) {
	var rest []byte
	spans := d.spans[:0]
	defer func() { d.spans = spans[:0] }()
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil, nil, false
		}
		if num == virtualHostsField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[off+n:])
			if m < 0 {
				return nil, nil, false
			}
			end := off + n + m
			spans = append(spans, span{end - len(v), end})
			off = end
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return nil, nil, false
		}
		rest = append(rest, b[off:off+n+m]...)
		off += n + m
	}
	rc = &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(rest, rc); err != nil {
		return nil, nil, false
	}
	last, known := d.last[rc.GetName()]
	eq := func(i, j int) bool { return string(b[spans[i].start:spans[i].end]) == last.wire[j] }
	var al aligner
	var vhosts []*routev3.VirtualHost
	if len(spans) > 0 {
		vhosts, wire = make([]*routev3.VirtualHost, len(spans)), make([]string, len(spans))
	}
	for i, sp := range spans {
		// The common case first, without a call: the next one is unchanged.
		if j := al.j; j < len(last.wire) && string(b[sp.start:sp.end]) == last.wire[j] {
			al.j++
			vhosts[i], wire[i] = last.hosts[j], last.wire[j]
			continue
		}
		if j := al.match(i, len(spans), len(last.wire), eq); j >= 0 {
			vhosts[i], wire[i] = last.hosts[j], last.wire[j]
			continue
		}
		if !known {
			if w, vh, ok := d.lastByWire(b[sp.start:sp.end]); ok {
				vhosts[i], wire[i] = vh, w
				continue
			}
		}
		vh := &routev3.VirtualHost{}
		if err := vhostUnmarshal.Unmarshal(b[sp.start:sp.end], vh); err != nil {
			return nil, nil, false
		}
		vhosts[i], wire[i] = vh, string(b[sp.start:sp.end])
	}
	rc.VirtualHosts = vhosts
	d.cur[rc.GetName()] = decodedHosts{wire: wire, hosts: vhosts}
	return rc, wire, true
}
