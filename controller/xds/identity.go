package xds

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// A data plane proves which Gateway it serves with the URI SAN of its
// client certificate: spiffe://edgeway/gateway/<namespace>/<name>. Its xDS
// node id must be "<namespace>/<name>", the same Gateway (mtls.go enforces
// it), so a data plane can only ever receive its own Gateway's config.
const (
	identityScheme = "spiffe"
	identityDomain = "edgeway"
	identityPath   = "/gateway/"
)

// GatewayIdentity is the URI SAN of the client certificate of the data
// plane of Gateway namespace/name.
func GatewayIdentity(namespace, name string) *url.URL {
	return &url.URL{Scheme: identityScheme, Host: identityDomain, Path: identityPath + namespace + "/" + name}
}

// GatewayNodeID is the xDS node id of the data plane of Gateway namespace/name.
func GatewayNodeID(namespace, name string) string { return namespace + "/" + name }

// NodeIDFromCertificate returns the node id a client certificate entitles
// its holder to: the Gateway of its one edgeway URI SAN.
func NodeIDFromCertificate(c *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range c.URIs {
		if u.Scheme != identityScheme || u.Host != identityDomain {
			continue
		}
		rest, ok := strings.CutPrefix(u.Path, identityPath)
		ns, name, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || ns == "" || name == "" || strings.Contains(name, "/") {
			return "", fmt.Errorf("URI SAN %q is not spiffe://edgeway/gateway/<namespace>/<name>", u)
		}
		ids = append(ids, GatewayNodeID(ns, name))
	}
	switch len(ids) {
	case 0:
		return "", errors.New("the client certificate has no spiffe://edgeway/gateway/<namespace>/<name> URI SAN")
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("the client certificate names %d Gateways; it must name one", len(ids))
	}
}
