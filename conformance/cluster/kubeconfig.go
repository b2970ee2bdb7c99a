package cluster

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextName names the cluster, user and context in the kubeconfigs.
const contextName = "edgeway-cluster"

// adminREST is the admin's REST config (O=system:masters), with a QPS that
// suits tests creating many objects at once.
func adminREST(server string, p *pki) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   p.caPEM,
			CertData: p.adminCertPEM,
			KeyData:  p.adminKey,
		},
		QPS:   100,
		Burst: 200,
	}
}

// writeKubeconfig writes a kubeconfig for server with the given client
// credentials. Either the PEM (embedded) or the file paths are given.
func writeKubeconfig(path, server string, caPEM []byte, certPEM, keyPEM []byte, certFile, keyFile string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
		ClientCertificate:     certFile,
		ClientKey:             keyFile,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("cluster: write kubeconfig %s: %w", path, err)
	}
	// It holds the admin's key.
	return os.Chmod(path, 0o600)
}
