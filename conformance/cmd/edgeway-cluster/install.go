package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/deploy"
)

// installEdgeway installs edgeway into the running cluster with its Helm
// chart, as a user would (conformance/deploy), and waits until the
// controller has accepted the GatewayClass.
func installEdgeway(o options) error {
	if _, alive, err := cluster.RecordedProcess(o.servePidFile()); err != nil {
		return err
	} else if !alive {
		return fmt.Errorf("cluster %s is not up: run `make cluster-up` (or edgeway-cluster up) first", o.id)
	}
	start := time.Now()
	if err := deploy.Edgeway(context.Background(), deploy.Options{Kubeconfig: o.kubeconfig()}); err != nil {
		return err
	}
	fmt.Printf("edgeway installed (helm release edgeway-system/edgeway, GatewayClass %s accepted) in %s\n",
		deploy.GatewayClassName, time.Since(start).Round(time.Millisecond))
	return nil
}
