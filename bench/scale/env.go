package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/deploy"
	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/podnet"
	"github.com/edgeway/edgeway/controller/infra"
)

// The controller as conformance/deploy installs it (release "edgeway" in
// "edgeway-system"), and the admin ports its pods and the data planes
// serve /metrics on (chart value admin.port; controller/infra).
const (
	controllerNamespace  = "edgeway-system"
	controllerDeployment = "edgeway"
	controllerAdminPort  = 19000
	dataplaneAdminPort   = 19001
	// edgewayBinary and dataplaneBinary are the base names of the binaries
	// the node runs for ghcr.io/edgeway/edgeway (the controller) and
	// ghcr.io/edgeway/edgeway-dataplane (the chart's default data plane
	// image; conformance/cluster images.go).
	edgewayBinary   = "edgeway"
	dataplaneBinary = "edgeway-dataplane"
)

// stateBase holds one podnet state root per bench process (<base>/<pid>),
// so that a bench killed mid-run is cleaned up by the next one.
const stateBase = "/run/edgeway-bench-scale"

// env is the cluster under test, with edgeway installed and the bench's
// Gateway and backends serving.
type env struct {
	client     client.Client
	kubeconfig string
	stop       func() // stops the cluster this process started; nil for EDGEWAY_KUBECONFIG

	gatewayAddr netip.Addr // the Gateway's load balancer address (status.addresses)

	controller, dataplane podProcess
}

// podProcess is a container process of the local cluster's node.
type podProcess struct {
	pod string
	ip  netip.Addr
	pid int
}

// setUp starts a cluster (or uses cfg.Kubeconfig), installs edgeway with
// its chart and creates the bench's namespace, backends and Gateway. On
// error everything it started is stopped again.
func setUp(ctx context.Context, cfg config, log *slog.Logger) (e *env, err error) {
	e = &env{kubeconfig: cfg.Kubeconfig}
	defer func() {
		if err != nil {
			e.tearDown(log)
		}
	}()
	if e.kubeconfig == "" {
		root, err := kubebin.RepoRoot()
		if err != nil {
			return e, err
		}
		podnet.SweepDeadProcessRoots(stateBase)
		stateRoot := filepath.Join(stateBase, strconv.Itoa(os.Getpid()))
		dir := filepath.Join(root, ".cache", "bench-scale", "cluster")
		start := time.Now()
		c, err := cluster.Start(ctx, cluster.Config{StateRoot: stateRoot, Dir: dir})
		if err != nil {
			return e, err
		}
		e.stop = func() {
			if err := c.Stop(context.Background()); err != nil {
				log.Error("stopping the cluster", "err", err)
			}
			os.Remove(stateRoot)
		}
		e.kubeconfig = c.Kubeconfig
		log.Info("local cluster up", "took", time.Since(start).Round(time.Millisecond), "logs", dir)
	}
	start := time.Now()
	if err := deploy.Edgeway(ctx, deploy.Options{Kubeconfig: e.kubeconfig}); err != nil {
		return e, err
	}
	log.Info("edgeway installed with helm", "took", time.Since(start).Round(time.Millisecond))

	if e.client, err = newClient(e.kubeconfig); err != nil {
		return e, err
	}
	if err := e.deleteNamespace(ctx, log); err != nil { // an earlier run's, on EDGEWAY_KUBECONFIG
		return e, err
	}
	objs := []client.Object{benchNamespace(), gateway()}
	for _, name := range []string{echoA, echoB} {
		d, s := echoBackend(name)
		objs = append(objs, d, s)
	}
	for _, o := range objs {
		if err := e.client.Create(ctx, o); err != nil {
			return e, fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	for _, name := range []string{echoA, echoB} {
		if err := e.waitDeploymentAvailable(ctx, namespace, name); err != nil {
			return e, err
		}
	}
	if e.gatewayAddr, err = e.waitGatewayAddress(ctx); err != nil {
		return e, err
	}
	if e.controller, err = e.findProcess(ctx, controllerNamespace, controllerDeployment, edgewayBinary, "controller"); err != nil {
		return e, err
	}
	if e.dataplane, err = e.findProcess(ctx, namespace, infra.ResourceName(gatewayName), dataplaneBinary, "dataplane"); err != nil {
		return e, err
	}
	log.Info("gateway ready", "address", e.gatewayAddr,
		"controller", fmt.Sprintf("pod %s ip %s pid %d", e.controller.pod, e.controller.ip, e.controller.pid),
		"dataplane", fmt.Sprintf("pod %s ip %s pid %d", e.dataplane.pod, e.dataplane.ip, e.dataplane.pid))
	return e, nil
}

// tearDown stops the cluster this process started, or removes the bench's
// namespace from the cluster it was given.
func (e *env) tearDown(log *slog.Logger) {
	if e.stop != nil {
		e.stop()
		return
	}
	if e.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := e.deleteNamespace(ctx, log); err != nil {
			log.Error("removing the bench namespace", "err", err)
		}
	}
}

func newClient(kubeconfig string) (client.Client, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	// Setup creates thousands of routes at once: client-go's default of
	// 5 writes per second would measure the client, not the cluster.
	rc.QPS, rc.Burst = 1000, 2000
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), gwv1.Install(scheme)); err != nil {
		return nil, err
	}
	return client.New(rc, client.Options{Scheme: scheme})
}

// deleteNamespace deletes the bench namespace, if any, and waits until it
// is gone (the namespace controller deletes its objects first).
func (e *env) deleteNamespace(ctx context.Context, log *slog.Logger) error {
	ns := benchNamespace()
	if err := e.client.Delete(ctx, ns); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	log.Info("deleting the namespace of an earlier run", "namespace", namespace)
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := e.client.Get(ctx, client.ObjectKeyFromObject(ns), ns)
		return apierrors.IsNotFound(err), nil
	})
}

func (e *env) waitDeploymentAvailable(ctx context.Context, ns, name string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := e.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d); err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, d.Status.Replicas)
		return d.Status.ReadyReplicas > 0, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s not ready within 3m (last: %s); see `kubectl -n %s describe pods`", ns, name, last, ns)
	}
	return nil
}

// waitGatewayAddress waits for the Gateway to be Programmed (a data plane
// ACKed its configuration) with an address.
func (e *env) waitGatewayAddress(ctx context.Context) (netip.Addr, error) {
	var addr netip.Addr
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		gw := &gwv1.Gateway{}
		if err := e.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: gatewayName}, gw); err != nil {
			last = err.Error()
			return false, nil
		}
		c := meta.FindStatusCondition(gw.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
		if c == nil || c.Status != metav1.ConditionTrue || len(gw.Status.Addresses) == 0 {
			last = fmt.Sprintf("Programmed %v, addresses %v", c, gw.Status.Addresses)
			return false, nil
		}
		a, err := netip.ParseAddr(gw.Status.Addresses[0].Value)
		if err != nil {
			last = fmt.Sprintf("address %q: %v", gw.Status.Addresses[0].Value, err)
			return false, nil
		}
		addr = a
		return true, nil
	})
	if err != nil {
		return addr, fmt.Errorf("gateway %s/%s not Programmed with an address within 3m (last: %s); the controller's log: kubectl -n %s logs deploy/%s",
			namespace, gatewayName, last, controllerNamespace, controllerDeployment)
	}
	return addr, nil
}

// findProcess finds the running pod of a Deployment and its container's
// host process (`<binary> <arg>` in the pod's network namespace).
func (e *env) findProcess(ctx context.Context, ns, deployment, binary, arg string) (podProcess, error) {
	if err := e.waitDeploymentAvailable(ctx, ns, deployment); err != nil {
		return podProcess{}, err
	}
	d := &appsv1.Deployment{}
	if err := e.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: deployment}, d); err != nil {
		return podProcess{}, err
	}
	pods := &corev1.PodList{}
	if err := e.client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return podProcess{}, err
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			continue
		}
		pid, err := findPodProcess(binary, arg, ip)
		if err != nil {
			return podProcess{}, fmt.Errorf("pod %s/%s: %w", ns, p.Name, err)
		}
		return podProcess{pod: p.Name, ip: ip, pid: pid}, nil
	}
	return podProcess{}, fmt.Errorf("deployment %s/%s has no running pod with an IP", ns, deployment)
}
