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
// it has not seen in the last or the current batch: the others are the
// message decoded then, shared (messages of Resources are read-only). A
// route configuration is one xDS resource, so a change of one route resends
// all of its virtual hosts; at 5000 of them, decoding the unchanged ones was
// a third of the data plane's work per change.
//
// Equal bytes decode to equal messages, so reuse never changes a result.
// Not safe for concurrent use.
type RouteDecoder struct {
	last map[string]*routev3.VirtualHost // by wire form, of the last batch
	cur  map[string]*routev3.VirtualHost // of the batch in progress
}

// Decode decodes one RouteConfiguration. It also returns the wire form of
// each virtual host, index for index: the key by which a Compiler finds
// the virtual hosts it compiled before (Resources.RouteWire).
func (d *RouteDecoder) Decode(b []byte) (*routev3.RouteConfiguration, []string, error) {
	if d.cur == nil {
		d.cur = make(map[string]*routev3.VirtualHost, len(d.last))
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
	d.last, d.cur = d.cur, nil
}

// vhostUnmarshal decodes a virtual host alone with the depth left to it
// inside a RouteConfiguration, so that nesting proto.Unmarshal refuses is
// refused here too.
var vhostUnmarshal = proto.UnmarshalOptions{RecursionLimit: protowire.DefaultRecursionLimit - 1}

// decodeReusing splits b into the virtual hosts and everything else, which
// is decoded as one message; ok is false for bytes it cannot take apart or
// decode (the caller then reports proto.Unmarshal's error).
func (d *RouteDecoder) decodeReusing(b []byte) (rc *routev3.RouteConfiguration, wire []string, ok bool) {
	s := string(b) // one copy; the virtual hosts' keys are substrings of it
	var rest []byte
	var vhosts []*routev3.VirtualHost
	for off := 0; off < len(s); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil, nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return nil, nil, false
		}
		if num != virtualHostsField || typ != protowire.BytesType {
			rest = append(rest, b[off:off+n+m]...)
			off += n + m
			continue
		}
		_, lenSize := protowire.ConsumeVarint(b[off+n:])
		start, end := off+n+lenSize, off+n+m
		key := s[start:end]
		vh, err := d.virtualHost(key, b[start:end])
		if err != nil {
			return nil, nil, false
		}
		vhosts = append(vhosts, vh)
		wire = append(wire, key)
		off += n + m
	}
	rc = &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(rest, rc); err != nil {
		return nil, nil, false
	}
	rc.VirtualHosts = vhosts
	return rc, wire, true
}

// virtualHost returns the message of one virtual host's wire form (key, and
// raw, the same bytes), decoded now or in the last or current batch.
func (d *RouteDecoder) virtualHost(key string, raw []byte) (*routev3.VirtualHost, error) {
	if vh, ok := d.cur[key]; ok {
		return vh, nil
	}
	vh, ok := d.last[key]
	if !ok {
		vh = &routev3.VirtualHost{}
		if err := vhostUnmarshal.Unmarshal(raw, vh); err != nil {
			return nil, err
		}
	}
	d.cur[key] = vh
	return vh, nil
}
