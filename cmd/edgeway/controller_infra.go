package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/kubecontroller"
)

// infraFlags configure secure xDS and the per-Gateway infrastructure
// (controller/infra, controller/ca).
type infraFlags struct {
	enabled         bool
	namespace       string
	xdsService      string
	xdsServicePort  int
	caSecret        string
	clusterDomain   string
	image           string
	imagePullPolicy string
}

var infraF infraFlags

func init() {
	controllerExtensions = append(controllerExtensions, controllerExtension{register: infraF.register, setup: infraF.setup})
}

func (f *infraFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "infrastructure", true, "provision a data plane per Gateway and serve xDS over mutual TLS with certificates from the controller's CA (false: plaintext xDS, no provisioning; for development only)")
	fs.StringVar(&f.namespace, "namespace", "", "the controller's namespace: the xDS CA Secret and the xDS Service (default: $POD_NAMESPACE, or the in-cluster namespace)")
	fs.StringVar(&f.xdsService, "xds-service", "edgeway-xds", "name of the Service in front of the controllers' xDS port: data planes dial <xds-service>.<namespace>.svc:<xds-service-port>")
	fs.IntVar(&f.xdsServicePort, "xds-service-port", 18000, "port of --xds-service")
	fs.StringVar(&f.caSecret, "xds-ca-secret", "edgeway-xds-ca", "Secret in --namespace holding the xDS CA (created when missing, shared by every replica)")
	fs.StringVar(&f.clusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain, for the names in the xDS serving certificate")
	fs.StringVar(&f.image, "dataplane-image", "", "data plane image when no EdgewayConfig names one (default ghcr.io/edgeway/edgeway-dataplane:<this version>, the data-plane-only binary; an image of the whole edgeway binary works too: the Pods' args are `dataplane --xds-server ...`, which both accept)")
	fs.StringVar(&f.imagePullPolicy, "dataplane-image-pull-policy", "", "data plane imagePullPolicy when no EdgewayConfig names one (Always, IfNotPresent, Never; default: Kubernetes')")
}

func (f *infraFlags) setup(ctx context.Context, c *kubecontroller.Controller, cf *controllerFlags, log *slog.Logger) error {
	if !f.enabled {
		log.Warn("--infrastructure=false: xDS is served in plaintext to any client and no data plane is provisioned")
		return nil
	}
	ns := f.namespace
	if ns == "" {
		var err error
		if ns, err = podNamespace(); err != nil {
			return fmt.Errorf("--infrastructure needs the controller's namespace: pass --namespace (%w)", err)
		}
	}
	image := f.image
	if image == "" {
		image = "ghcr.io/edgeway/edgeway-dataplane:" + imageTag()
	}
	_, _, err := infra.Install(ctx, c, infra.InstallOptions{
		Options: infra.Options{
			ControllerName:  cf.controllerName,
			Image:           image,
			ImagePullPolicy: corev1.PullPolicy(f.imagePullPolicy),
			XDSAddress:      fmt.Sprintf("%s.%s.svc:%d", f.xdsService, ns, f.xdsServicePort),
		},
		Namespace:    ns,
		CASecretName: f.caSecret,
		XDSDNSNames:  ca.ServiceDNSNames(f.xdsService, ns, f.clusterDomain),
		Log:          log,
	})
	return err
}

// imageTag is this binary's version as an image tag ("devel" when unknown).
func imageTag() string {
	v := strings.Fields(versionString())
	if len(v) < 2 {
		return "devel"
	}
	return v[1]
}
