package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// readyTimeout bounds the wait for what the controllers create at start
// (about 5 s after kube-controller-manager is healthy on an idle machine).
const readyTimeout = 2 * time.Minute

// waitReady creates kube-dns and waits until the cluster is usable: the
// Node Ready, the default ServiceAccounts of default and kube-system (a Pod
// is refused until its namespace has one), the kube-root-ca.crt ConfigMap
// in default (every Pod's kube-api-access volume needs it), and the
// kubernetes Service answering on its ClusterIP through the service proxy
// with the serving certificate valid for that address (what an in-cluster
// client dials).
func (c *Cluster) waitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.REST)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := createKubeDNS(ctx, client, c.KubeDNSIP, c.Network.Gateway()); err != nil {
		return err
	}
	viaClusterIP := rest.CopyConfig(c.REST)
	viaClusterIP.Host = "https://" + net.JoinHostPort(c.KubernetesIP.String(), "443")
	viaClusterIP.Timeout = 5 * time.Second
	proxied, err := kubernetes.NewForConfig(viaClusterIP)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	checks := []struct {
		what  string
		check func(context.Context) error
	}{
		{"Node " + c.Node.Name() + " Ready", func(ctx context.Context) error {
			n, err := client.CoreV1().Nodes().Get(ctx, c.Node.Name(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return errors.New("not Ready")
		}},
		{"ServiceAccount default/default (serviceaccount-controller)", func(ctx context.Context) error {
			_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err
		}},
		{"ServiceAccount kube-system/default (serviceaccount-controller)", func(ctx context.Context) error {
			_, err := client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{})
			return err
		}},
		{"ConfigMap default/kube-root-ca.crt (root-ca-certificate-publisher-controller)", func(ctx context.Context) error {
			_, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err
		}},
		{"the kubernetes Service on " + viaClusterIP.Host + " (service proxy)", func(ctx context.Context) error {
			_, err := proxied.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err
		}},
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, ch := range checks {
		var last error
		for {
			if last = ch.check(ctx); last == nil {
				break
			}
			for _, proc := range []*process{c.etcd, c.api, c.kcm} {
				if !proc.running() {
					return fmt.Errorf("cluster: waiting for %s: %w", ch.what, proc.exitError())
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: %s not there after %s (last: %v); see the logs of kube-controller-manager and the cluster", ch.what, readyTimeout, last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
