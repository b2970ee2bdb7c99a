package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/podnet"
)

// TestCLIDownAfterCrash runs the developer's flow with the real command:
// `up` (twice: the second says it is up), `status`, a workload with a pod
// and a LoadBalancer address, then SIGKILL of the background `serve`
// process (a crash: no Stop runs), and `down`, after which nothing of the
// cluster is left: no recorded process, no pod process, no link, namespace,
// address, route or state.
func TestCLIDownAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds edgeway-cluster and starts a cluster")
	}
	repo, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "edgeway-cluster")
	build := exec.Command("go", "build", "-o", bin, "./conformance/cmd/edgeway-cluster")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id := podnet.NewID()
	root := filepath.Join(TestStateRootBase, strconv.Itoa(os.Getpid()))
	dir := filepath.Join(t.TempDir(), "cluster")
	flags := []string{"--id", id, "--state-root", root, "--dir", dir}
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, flags...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { // whatever happened above
		if out, err := cli("down"); err != nil {
			t.Errorf("down at cleanup: %v\n%s", err, out)
		}
	})

	start := time.Now()
	out, err := cli("up")
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	t.Logf("up took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if !strings.Contains(out, "export KUBECONFIG="+kubeconfig+"\n") {
		t.Errorf("up does not print export KUBECONFIG=%s", kubeconfig)
	}
	if out, err := cli("up"); err != nil || !strings.Contains(out, "already up") {
		t.Errorf("up again: %v\n%s\nwant: already up", err, out)
	}
	if out, err := cli("status"); err != nil || !strings.Contains(out, "is up") {
		t.Errorf("status: %v\n%s", err, out)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createEcho(ctx, t, client, "default")
	waitUntil(ctx, t, "echo pod Ready and echo-lb's address", func() error {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil || len(pods.Items) == 0 || !podReady(&pods.Items[0]) {
			return fmt.Errorf("no ready echo pod (%v)", err)
		}
		s, err := client.CoreV1().Services("default").Get(ctx, "echo-lb", metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return fmt.Errorf("no LoadBalancer address (%v)", err)
		}
		return nil
	})

	servePID, alive, err := RecordedProcess(filepath.Join(dir, "serve.pid"))
	if err != nil || !alive {
		t.Fatalf("serve.pid: pid %d alive %v: %v", servePID, alive, err)
	}
	recs, _ := readPidRecords(dir)
	pids := map[string]int{}
	for _, r := range recs {
		pids[r.name] = r.pid
	}
	logMemory(t, "the cluster run by edgeway-cluster serve, one pod", pids, "edgeway-cluster serve (node, service proxy, DNS)", servePID)
	podProcs := processesInNetns(t, "ew-"+id+"-")
	if len(podProcs) == 0 {
		t.Fatal("no process runs in the cluster's pod namespaces; the echo pod should")
	}
	for _, pid := range podProcs {
		pids["pod process "+strconv.Itoa(pid)] = pid
	}
	left := leftoverOf(t, client, id, root, cfg.Host)
	left.pids = pids

	if err := syscall.Kill(servePID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "serve gone after SIGKILL", func() error {
		if _, alive, _ := RecordedProcess(filepath.Join(dir, "serve.pid")); alive {
			return fmt.Errorf("pid %d alive", servePID)
		}
		return nil
	})
	// What the crash left: the network and its state at least.
	if _, err := os.Stat(left.stateDir); err != nil {
		t.Errorf("after the crash the state directory %s should still exist: %v", left.stateDir, err)
	}
	if out, err := cli("status"); err == nil || !strings.Contains(out, "run `edgeway-cluster down`") {
		t.Errorf("status after the crash: %v\n%s\nwant: not running, left state, run down", err, out)
	}

	start = time.Now()
	out, err = cli("down")
	if err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	t.Logf("down after the crash took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	left.assertGone(t)
	if _, err := os.Stat(kubeconfig); !os.IsNotExist(err) {
		t.Errorf("the kubeconfig of the dead cluster is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver.log")); err != nil {
		t.Errorf("down should keep the logs: %v", err)
	}
	if out, err := cli("status"); err == nil || strings.Contains(out, "left state") {
		t.Errorf("status after down: %v\n%s\nwant: not running, nothing left", err, out)
	}
}

// TestDownKillsRecordedProcesses: Down stops a process its pid records
// name, but not one whose pid matches and start time does not (the pid was
// reused); Start refuses to start a cluster whose recorded process runs.
func TestDownKillsRecordedProcesses(t *testing.T) {
	root := filepath.Join(TestStateRootBase, strconv.Itoa(os.Getpid()))
	id := podnet.NewID()
	dir := filepath.Join(root, id, "cluster")
	sleep := func() *exec.Cmd {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		return cmd
	}
	recorded, reused := sleep(), sleep()
	if err := writePidRecord(filepath.Join(dir, pidsDir, "recorded.pid"), recorded.Process.Pid); err != nil {
		t.Fatal(err)
	}
	start, err := processStartTime(reused.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pidsDir, "reused.pid"), fmt.Appendf(nil, "%d %d\n", reused.Process.Pid, start+1), 0o644); err != nil {
		t.Fatal(err)
	}

	_, err = Start(context.Background(), Config{ID: id, StateRoot: root})
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("Start with a live recorded process: %v, want already running", err)
	}

	if err := Down(root, id); err != nil {
		t.Fatal(err)
	}
	if (pidRecord{pid: recorded.Process.Pid, start: mustStart(t, recorded.Process.Pid)}).alive() {
		t.Error("the recorded process survived Down")
	}
	if syscall.Kill(reused.Process.Pid, 0) != nil {
		t.Error("Down signalled a process whose start time differs from the record (a reused pid)")
	}
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory left: %v", err)
	}
}

func mustStart(t *testing.T, pid int) uint64 {
	st, err := processStartTime(pid)
	if err != nil {
		return 0 // gone and reaped: alive() is false either way
	}
	return st
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// processesInNetns lists the pids of processes whose network namespace is
// one of /run/netns/<prefix>*.
func processesInNetns(t *testing.T, prefix string) []int {
	t.Helper()
	paths, _ := filepath.Glob("/run/netns/" + prefix + "*")
	inodes := map[uint64]bool{}
	for _, p := range paths {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && inodes[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leftoverOf describes a cluster run by another process, from the API: the
// pod block is the gateway's /20, the Service CIDR the kubernetes
// ClusterIP's /16 (podnet's sizes).
func leftoverOf(t *testing.T, client kubernetes.Interface, id, root, server string) leftover {
	t.Helper()
	host, _, err := net.SplitHostPort(strings.TrimPrefix(server, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return leftover{
		id:          id,
		bridge:      "ewbr-" + id,
		stateDir:    filepath.Join(root, id),
		podCIDR:     netip.PrefixFrom(netip.MustParseAddr(host), 20).Masked(),
		serviceCIDR: netip.PrefixFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 16).Masked(),
	}
}
