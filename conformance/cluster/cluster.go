package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/edgeway/edgeway/conformance/clusterdns"
	"github.com/edgeway/edgeway/conformance/node"
	"github.com/edgeway/edgeway/conformance/podnet"
	"github.com/edgeway/edgeway/conformance/serviceproxy"
)

// ClusterDomain is the cluster's DNS domain.
const ClusterDomain = "cluster.local"

// Config configures a cluster.
type Config struct {
	// ID is the podnet network's ID (podnet.NewID() if empty).
	ID string
	// StateRoot is podnet's state root (podnet.DefaultStateRoot if empty).
	StateRoot string
	// Dir holds the certificates, etcd's data, the logs, the kubeconfig
	// and the pid records (default: "cluster" in the podnet state
	// directory, which Stop and Down remove). A Dir of one's own keeps the
	// logs after Stop.
	Dir string
	// Log receives the in-process components' logs (node, service proxy,
	// DNS, the cluster's own). Nil: Dir/cluster.log.
	Log *slog.Logger
	// Images are merged over the default images (see images.go).
	Images node.Images
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig file (Dir/kubeconfig); its server
	// is https://<podnet gateway>:6443.
	Kubeconfig string
	// REST authenticates as a cluster admin (O=system:masters).
	REST *rest.Config
	// Network is the cluster's pod network.
	Network *podnet.Network
	// Node runs the Pods.
	Node *node.Node
	// Dir holds everything on disk (Config.Dir): logs are Dir/<process>.log
	// and, unless Config.Log was given, Dir/cluster.log.
	Dir string
	// KubernetesIP is the kubernetes Service's ClusterIP (the first
	// address of the Service CIDR); KubeDNSIP is kube-system/kube-dns's
	// (the tenth), whose endpoint is the cluster DNS on the gateway.
	KubernetesIP, KubeDNSIP netip.Addr
	// ImagesDir holds the default images' binaries.
	ImagesDir string

	cfg     Config
	log     *slog.Logger
	logFile *os.File
	etcd    *process
	api     *process
	kcm     *process
	proxy   *serviceproxy.Proxy
	dns     *clusterdns.Server

	cancelNode context.CancelFunc // ends the context the node was started with

	stopOnce sync.Once
	stopErr  error
}

// stateFile, in the podnet state directory, records Config.Dir so that
// Down finds the pid records from the state root and ID alone.
const stateFile = "cluster.json"

type clusterState struct {
	Dir string `json:"dir"`
}

// Start starts a cluster: the PKI, etcd, kube-apiserver on the podnet
// gateway, kube-controller-manager, the node, the service proxy (ClusterIPs
// and LoadBalancer addresses) and the cluster DNS. It returns when the Node
// is Ready, the default service accounts and the root CA ConfigMap exist,
// and the kubernetes Service answers on its ClusterIP. On error everything
// started is stopped and cleaned up again.
//
// A leftover of an earlier cluster with the same ID (after a crash) is
// removed first; a cluster that still runs with that ID or Dir is an error.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	started := time.Now()
	if os.Geteuid() != 0 {
		return nil, errors.New("cluster: the local cluster creates network namespaces, links and mounts: run it as root")
	}
	if cfg.ID == "" {
		cfg.ID = podnet.NewID()
	}
	if cfg.StateRoot == "" {
		cfg.StateRoot = podnet.DefaultStateRoot
	}
	stateDir := filepath.Join(cfg.StateRoot, cfg.ID)
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(stateDir, "cluster")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cfg.Dir = dir
	for _, d := range clusterDirs(stateDir, dir) {
		if r := liveRecord(d); r != nil {
			return nil, fmt.Errorf("cluster: cluster %s is already running (%s, pid %d, recorded in %s); stop it first (Stop, cluster.Down or `edgeway-cluster down`)",
				cfg.ID, r.name, r.pid, filepath.Join(d, pidsDir))
		}
	}
	// What a crashed cluster of this ID left: pods, links, addresses.
	if err := Down(cfg.StateRoot, cfg.ID); err != nil {
		return nil, fmt.Errorf("cluster: removing what an earlier cluster %s left: %w", cfg.ID, err)
	}
	// The network first: the default Dir lies in its state directory, which
	// podnet creates.
	network, err := podnet.Open(podnet.Config{ID: cfg.ID, StateRoot: cfg.StateRoot})
	if err != nil {
		return nil, err
	}
	if err := writeClusterState(network.StateDir(), dir); err == nil {
		err = prepareDir(dir)
	}
	if err != nil {
		return nil, errors.Join(err, Down(cfg.StateRoot, cfg.ID))
	}

	c := &Cluster{cfg: cfg, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), Network: network}
	c.log = cfg.Log
	if c.log == nil {
		f, err := os.OpenFile(filepath.Join(dir, "cluster.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.logFile = f
		c.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	c.log = c.log.With("cluster", cfg.ID)
	if err := c.start(ctx); err != nil {
		err = fmt.Errorf("%w%s", err, c.logTails(15))
		c.log.Error("start failed", "err", err)
		if stopErr := c.Stop(context.Background()); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	c.log.Info("cluster ready", "took", time.Since(started).Round(time.Millisecond),
		"kubeconfig", c.Kubeconfig, "server", c.REST.Host)
	return c, nil
}

// start brings the components up in order; Stop undoes what it did.
func (c *Cluster) start(ctx context.Context) error {
	// The images' binaries are needed only when the node starts: build
	// them meanwhile (seconds even when nothing changed, minutes cold).
	type built struct {
		images node.Images
		dir    string
		err    error
	}
	buildCtx, cancelBuild := context.WithCancel(ctx)
	defer cancelBuild() // ends a build still running when start fails
	imagesBuilt := make(chan built, 1)
	go func() {
		t := time.Now()
		images, dir, err := buildImages(buildCtx, c.cfg.Images)
		if err == nil {
			c.log.Info("images built", "dir", dir, "took", time.Since(t).Round(time.Millisecond))
		}
		imagesBuilt <- built{images, dir, err}
	}()

	gw := c.Network.Gateway()
	c.KubernetesIP = nthAddr(c.Network.ServiceCIDR(), 1)
	c.KubeDNSIP = nthAddr(c.Network.ServiceCIDR(), 10)
	c.log.Info("pod network", "bridge", c.Network.Bridge(), "gateway", gw,
		"podCIDR", c.Network.PodCIDR(), "serviceCIDR", c.Network.ServiceCIDR())

	p, err := makePKI(c.Dir, gw, c.KubernetesIP)
	if err != nil {
		return err
	}
	var etcdURL string
	if c.etcd, etcdURL, err = startEtcd(ctx, c.Dir, c.log); err != nil {
		return err
	}
	if c.api, err = startAPIServer(ctx, c.Dir, etcdURL, gw, c.Network.ServiceCIDR(), p, c.log); err != nil {
		return err
	}
	server := "https://" + net.JoinHostPort(gw.String(), strconv.Itoa(APIServerPort))
	c.REST = adminREST(server, p)
	if err := writeKubeconfig(c.Kubeconfig, server, p.caPEM, p.adminCertPEM, p.adminKey, "", ""); err != nil {
		return err
	}
	kcmKubeconfig := filepath.Join(c.Dir, pkiDir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, server, p.caPEM, nil, nil, p.controllerManagerCert, p.controllerManagerKey); err != nil {
		return err
	}
	if c.kcm, err = startControllerManager(ctx, c.Dir, kcmKubeconfig, p, c.log); err != nil {
		return err
	}

	if c.proxy, err = serviceproxy.Start(ctx, serviceproxy.Config{REST: c.REST, Network: c.Network, Log: c.log}); err != nil {
		return err
	}
	if c.dns, err = clusterdns.Start(ctx, clusterdns.Config{
		REST: c.REST, Listen: netip.AddrPortFrom(gw, 53), Domain: ClusterDomain, Log: c.log,
	}); err != nil {
		return err
	}
	b := <-imagesBuilt
	if b.err != nil {
		return b.err
	}
	c.ImagesDir = b.dir
	// node.Start ties its event broadcaster to the context it is given, so
	// that context must live as long as the cluster; it still ends when
	// ctx does during the start.
	nodeCtx, cancelNode := context.WithCancel(context.Background())
	c.cancelNode = cancelNode
	detach := context.AfterFunc(ctx, cancelNode)
	defer detach()
	if c.Node, err = node.Start(nodeCtx, node.Config{
		REST:          c.REST,
		Network:       c.Network,
		Images:        b.images,
		Dir:           filepath.Join(c.Dir, "node"),
		ClusterDNS:    []netip.Addr{gw},
		ClusterDomain: ClusterDomain,
		Log:           c.log,
	}); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// Stop stops every component (pods with their grace period, cut short when
// ctx ends; each control-plane process gets up to 30 s after SIGTERM) and
// runs podnet.Cleanup, so that no process, namespace, link, route or address
// of the cluster is left. It may be called more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopErr = c.stop(ctx) })
	return c.stopErr
}

func (c *Cluster) stop(ctx context.Context) error {
	var errs []error
	stopProc := func(p *process) {
		if p == nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		p.stop(pctx)
	}
	// No new Pods while the node stops the running ones.
	stopProc(c.kcm)
	if c.dns != nil {
		c.dns.Stop()
	}
	if c.proxy != nil {
		c.proxy.Stop()
	}
	if c.Node != nil {
		nctx, cancel := context.WithTimeout(ctx, time.Minute)
		c.Node.Stop(nctx)
		cancel()
	}
	if c.cancelNode != nil {
		c.cancelNode()
	}
	stopProc(c.api)
	stopProc(c.etcd)
	if err := Down(c.cfg.StateRoot, c.cfg.ID); err != nil {
		errs = append(errs, err)
	}
	if c.log != nil {
		c.log.Info("cluster stopped")
	}
	if c.logFile != nil {
		c.logFile.Close()
	}
	return errors.Join(errs...)
}

// PIDs returns the pids of the cluster's processes: etcd, kube-apiserver,
// kube-controller-manager; the node, service proxy and DNS run in the
// calling process.
func (c *Cluster) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range []*process{c.etcd, c.api, c.kcm} {
		if p != nil {
			m[p.name] = p.pid()
		}
	}
	return m
}

// LogFiles are the cluster's log files.
func (c *Cluster) LogFiles() []string {
	var files []string
	for _, p := range []*process{c.etcd, c.api, c.kcm} {
		if p != nil {
			files = append(files, p.logPath)
		}
	}
	if c.logFile != nil {
		files = append(files, c.logFile.Name())
	}
	return files
}

// logTails is the last n lines of each log, for an error message.
func (c *Cluster) logTails(n int) string {
	var s string
	for _, f := range c.LogFiles() {
		s += fmt.Sprintf("\n--- last lines of %s:\n%s", f, tail(f, n))
	}
	return s
}

// Down removes a cluster from its state alone, after a crash of the
// process that ran it: it stops the processes recorded in its Dir (SIGTERM,
// then SIGKILL after 10 s), removes the cluster's state from Dir (keeping
// the logs) and runs podnet.Cleanup, which kills what runs in the pod
// namespaces and removes namespaces, links, routes, addresses and the state
// directory. It is idempotent.
func Down(stateRoot, id string) error {
	if stateRoot == "" {
		stateRoot = podnet.DefaultStateRoot
	}
	stateDir := filepath.Join(stateRoot, id)
	var errs []error
	for _, d := range clusterDirs(stateDir, "") {
		if err := killRecorded(d, 10*time.Second); err != nil {
			errs = append(errs, err)
			continue // keep the records: Down can be run again
		}
		if err := clearDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := podnet.Cleanup(stateRoot, id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// clusterDirs are the directories that may hold pid records of the cluster
// with the given podnet state directory: the default Dir, the Dir recorded
// there and extra.
func clusterDirs(stateDir, extra string) []string {
	dirs := []string{filepath.Join(stateDir, "cluster")}
	if b, err := os.ReadFile(filepath.Join(stateDir, stateFile)); err == nil {
		var st clusterState
		if json.Unmarshal(b, &st) == nil && st.Dir != "" && st.Dir != dirs[0] {
			dirs = append(dirs, st.Dir)
		}
	}
	if extra != "" && extra != dirs[0] && (len(dirs) < 2 || extra != dirs[1]) {
		dirs = append(dirs, extra)
	}
	return dirs
}

// liveRecord returns a recorded process of dir that still runs, if any.
func liveRecord(dir string) *pidRecord {
	recs, _ := readPidRecords(dir)
	for _, r := range recs {
		if r.alive() {
			return &r
		}
	}
	return nil
}

func writeClusterState(stateDir, dir string) error {
	b, _ := json.Marshal(clusterState{Dir: dir})
	if err := os.WriteFile(filepath.Join(stateDir, stateFile), b, 0o644); err != nil {
		return fmt.Errorf("cluster: record the cluster directory: %w", err)
	}
	return nil
}

// prepareDir creates dir and removes what an earlier cluster left in it
// (every Start makes a new cluster).
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return clearDir(dir)
}

// clearDir removes the cluster's state from dir (etcd's data, keys,
// kubeconfig, pod volumes, pid records) and keeps the logs. Only the
// cluster's own entries are removed: Dir may be a directory the caller
// also uses.
func clearDir(dir string) error {
	for _, name := range []string{"etcd", pkiDir, pidsDir, "node", "kube-controller-manager", "kubeconfig"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("cluster: clear %s: %w", dir, err)
		}
	}
	return nil
}

// nthAddr is the n-th address after the prefix's network address.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}
