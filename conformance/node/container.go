package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startError is why a container could not start: reason is the container's
// waiting reason (as the kubelet names it), msg says what to do.
type startError struct {
	reason, msg string
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// startContainer starts one instance of c in the pod's namespaces (see
// mount_linux.go for what the process sees) and returns once the
// container's own binary runs.
func (w *podWorker) startContainer(pod *corev1.Pod, c *ctr) *startError {
	img, key, ok := w.n.cfg.Images.Lookup(c.spec.Image)
	if !ok {
		return &startError{"ErrImagePull", w.n.cfg.Images.unknownImageMessage(w.n.name, c.spec.Name, c.spec.Image)}
	}
	c.imageKey = key
	ctx, cancel := context.WithTimeout(w.n.ctx, 30*time.Second)
	defer cancel()
	env, err := containerEnv(ctx, pod, c.spec, serviceEnv(pod, w.n.services), w.facts(), newObjects(w.n.client, pod.Namespace))
	if err != nil {
		return &startError{"CreateContainerConfigError", err.Error()}
	}
	vars := envMap(env)
	expandAll := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expand(s, vars)
		}
		return out
	}
	cmd, err := img(Container{Image: c.spec.Image, Command: expandAll(c.spec.Command), Args: expandAll(c.spec.Args), Pod: pod, Spec: c.spec})
	if err != nil {
		return &startError{"CreateContainerError", fmt.Sprintf("container %q: image %q (mapped by %q): %v", c.spec.Name, c.spec.Image, key, err)}
	}
	if cmd == nil || cmd.Path == "" {
		return &startError{"CreateContainerError", fmt.Sprintf("container %q: image %q (mapped by %q) returned no command", c.spec.Name, c.spec.Image, key)}
	}
	mounts, err := w.mounts(pod, c.spec, vars)
	if err != nil {
		return &startError{"CreateContainerConfigError", fmt.Sprintf("container %q: %v", c.spec.Name, err)}
	}
	hostname := podHostname(pod)
	// The environment: a default PATH, HOSTNAME (as container runtimes set
	// them), the image's base, then the container's own variables.
	fullEnv := append([]string{defaultPath, "HOSTNAME=" + hostname}, cmd.Env...)
	fullEnv = append(fullEnv, env...)
	dir := c.spec.WorkingDir
	if dir == "" {
		dir = cmd.Dir
	}
	argv := cmd.Args
	if len(argv) == 0 {
		argv = []string{cmd.Path}
	}
	spec, err := json.Marshal(containerSpec{Path: cmd.Path, Argv: argv, Dir: dir, Hostname: hostname, Mounts: mounts})
	if err != nil {
		return &startError{"CreateContainerError", err.Error()}
	}

	restart := c.restarts
	if c.started {
		restart++
	}
	lp := logPath(filepath.Join(w.dir, "logs"), c.spec.Name, restart)
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return &startError{"CreateContainerError", err.Error()}
	}
	lf, err := createLog(lp)
	if err != nil {
		return &startError{"CreateContainerError", err.Error()}
	}
	netnsPath := w.sandbox.NetnsPath
	start := func(cmd *exec.Cmd) error { return startIn(netnsPath, cmd) }
	p, serr := spawn(start, string(spec), dedupEnv(fullEnv), lf, w.wake)
	if serr != nil {
		lf.closeWhenDone()
		return serr
	}
	w.mu.Lock()
	w.logsReady[c.spec.Name+"/"+strconv.Itoa(int(restart))] = lf
	w.mu.Unlock()
	c.proc = p
	w.n.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s (image %s as %s)", c.spec.Name, c.spec.Image, cmd.Path)
	w.startProbe(pod, c)
	return nil
}

// spawn starts the helper (which becomes the container's binary) with
// start (startIn the pod's network namespace) and waits until it has exec'd or
// failed; exited is called when the process has ended.
func spawn(start func(*exec.Cmd) error, spec string, env []string, lf *logFile, exited func()) (*proc, *startError) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, &startError{"CreateContainerError", err.Error()}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, &startError{"CreateContainerError", err.Error()}
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return nil, &startError{"CreateContainerError", err.Error()}
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{helperArg0, spec},
		Env:        env,
		Dir:        "/",
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: []*os.File{repW},
		SysProcAttr: &syscall.SysProcAttr{
			// Its own process group, so stopping the container stops what
			// it started.
			Setpgid: true,
			// A node that dies takes its pods with it (podnet.Cleanup
			// catches whatever escapes).
			Pdeathsig:    syscall.SIGKILL,
			Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		},
	}
	startErr := start(cmd)
	outW.Close()
	errW.Close()
	repW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		repR.Close()
		return nil, &startError{"RunContainerError", startErr.Error()}
	}
	lf.copyFrom("stdout", outR)
	lf.copyFrom("stderr", errR)
	lf.closeWhenDone()
	report, _ := io.ReadAll(repR)
	repR.Close()
	p := &proc{cmd: cmd, startedAt: metav1.Now(), exited: make(chan struct{}), log: lf}
	go func() {
		err := cmd.Wait()
		p.finishedAt = metav1.Now()
		p.exitCode = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws := ee.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				p.signal = ws.Signal()
				p.exitCode = 128 + int32(ws.Signal())
			} else {
				p.exitCode = int32(ws.ExitStatus())
			}
		} else if err != nil {
			p.exitCode = 128
		}
		close(p.exited)
		exited()
	}()
	if len(report) > 0 {
		<-p.exited
		return nil, &startError{"RunContainerError", "the container could not start on this node: " + string(report)}
	}
	return p, nil
}

// mounts lists the bind mounts of a container: its volumeMounts, and the
// pod's /etc/hosts and /etc/resolv.conf unless it mounts those itself.
func (w *podWorker) mounts(pod *corev1.Pod, c *corev1.Container, vars map[string]string) ([]mountSpec, error) {
	var out []mountSpec
	targets := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		vs, ok := w.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", vm.Name)
		}
		src := vs.path
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, vars)
		}
		if sub != "" {
			if !validFilePath(sub) {
				return nil, fmt.Errorf("volumeMount %q: subPath %q must be relative, without '..'", vm.Name, sub)
			}
			p := filepath.Join(vs.path, sub)
			if _, err := os.Lstat(p); os.IsNotExist(err) && !vs.readOnly {
				// As the kubelet does for writable volumes.
				if err := os.MkdirAll(p, 0o755); err != nil {
					return nil, err
				}
			}
			// Resolve the atomic writer's symlinks: the mount shows the
			// file as it is now (and, as in Kubernetes, no later update).
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q: subPath %q: %w", vm.Name, sub, err)
			}
			base, _ := filepath.EvalSymlinks(vs.path)
			if real != base && !strings.HasPrefix(real, base+"/") {
				return nil, fmt.Errorf("volumeMount %q: subPath %q leaves the volume", vm.Name, sub)
			}
			src = real
		}
		out = append(out, mountSpec{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || vs.readOnly})
		targets[filepath.Clean(vm.MountPath)] = true
	}
	if !targets["/etc/hosts"] {
		out = append(out, mountSpec{Source: filepath.Join(w.dir, "hosts"), Target: "/etc/hosts"})
	}
	if rc := filepath.Join(w.dir, "resolv.conf"); !targets["/etc/resolv.conf"] {
		if _, err := os.Stat(rc); err == nil {
			out = append(out, mountSpec{Source: rc, Target: "/etc/resolv.conf"})
		}
	}
	return out, nil
}

// dedupEnv keeps the last value of every name, in first-seen order.
func dedupEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// startProbe starts the readiness prober of a container instance; without
// a probe the container is ready while it runs.
func (w *podWorker) startProbe(pod *corev1.Pod, c *ctr) {
	p := c.spec.ReadinessProbe
	if p == nil || w.sandbox == nil {
		w.setReady(c, !c.init || c.sidecar, "")
		return
	}
	if ok, why := supportedProbe(p); !ok {
		w.warn(pod, "ProbeNotRun", fmt.Sprintf("container %q: readiness: %s", c.spec.Name, why))
		w.setReady(c, true, why)
		return
	}
	w.setReady(c, false, "")
	ctx, cancel := context.WithCancel(w.n.ctx)
	c.stopProbe = cancel
	spec, ip := c.spec, w.sandbox.IP
	go runReadiness(ctx, p, spec, ip, func(r probeResult) {
		w.mu.Lock()
		wasReady := c.ready
		if ctx.Err() == nil {
			c.ready, c.probeMsg = r.ready, r.msg
		}
		w.mu.Unlock()
		// A container that was ready and no longer is; the failures before
		// the first success are the process starting up.
		if wasReady && !r.ready {
			w.n.recorder.Event(pod, corev1.EventTypeWarning, "Unhealthy", r.msg)
		}
		w.wake()
	})
}

// setReady sets a container's readiness; probers call it from their own
// goroutines.
func (w *podWorker) setReady(c *ctr, ready bool, msg string) {
	w.mu.Lock()
	c.ready, c.probeMsg = ready, msg
	w.mu.Unlock()
}

// killNetnsProcesses SIGKILLs every process whose network namespace is the
// one at path (what escaped its process group) and waits briefly for them.
func killNetnsProcesses(path string, log *slog.Logger) {
	var target syscall.Stat_t
	if err := syscall.Stat(path, &target); err != nil {
		return
	}
	in := func(pid string) bool {
		var st syscall.Stat_t
		return syscall.Stat("/proc/"+pid+"/ns/net", &st) == nil && st.Dev == target.Dev && st.Ino == target.Ino
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := strconv.Itoa(os.Getpid())
	var killed []string
	for _, e := range entries {
		pid := e.Name()
		if pid == self || pid[0] < '0' || pid[0] > '9' || !in(pid) {
			continue
		}
		n, _ := strconv.Atoi(pid)
		if err := syscall.Kill(n, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
			log.Warn("killed a pod process outside the container's process group", "pid", n, "netns", path)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range killed {
		for in(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
