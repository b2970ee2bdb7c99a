package v1alpha1

import _ "embed"

// CRD is the CustomResourceDefinition of EdgewayConfig as controller-gen
// generated it (`make apis` writes it here and to charts/edgeway/crds/, a
// test keeps the two identical). File mode validates EdgewayConfig YAML
// against it, exactly as the API server would.
//
//go:embed crd.yaml
var CRD []byte

// ACMEIssuerCRD is the CustomResourceDefinition of ACMEIssuer, generated and
// kept identical to the chart's copy the same way as CRD.
//
//go:embed acmeissuer_crd.yaml
var ACMEIssuerCRD []byte
