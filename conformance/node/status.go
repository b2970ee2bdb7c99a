package node

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// postStatus writes the pod's status with a JSON merge patch when it
// changed. (A strategic merge patch would merge podIPs element-wise and be
// rejected; a merge patch replaces each list whole, and leaves fields this
// node does not own, such as qosClass, alone.) final is the last status of
// a pod being deleted: every container is terminated.
func (w *podWorker) postStatus(pod *corev1.Pod, final bool) {
	st := w.status(pod, final)
	body, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		w.n.log.Error("marshal pod status", "pod", w.key, "err", err)
		return
	}
	if string(body) == w.lastStatus {
		return
	}
	ctx, cancel := context.WithTimeout(w.n.ctx, 30*time.Second)
	defer cancel()
	_, err = w.n.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if !apierrors.IsNotFound(err) {
			w.n.log.Warn("patch pod status", "pod", w.key, "err", err)
		}
		return
	}
	w.lastStatus = string(body)
}

// podIP is the pod's address while it has a network (and after, as the
// kubelet keeps reporting it).
func (w *podWorker) podIP() string {
	if w.sandbox != nil {
		w.lastIP = w.sandbox.IP.String()
	}
	return w.lastIP
}

func (w *podWorker) status(pod *corev1.Pod, final bool) corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP:             w.n.ip.String(),
		HostIPs:            []corev1.HostIP{{IP: w.n.ip.String()}},
		ObservedGeneration: pod.Generation,
	}
	if ip := w.podIP(); ip != "" {
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if !w.startTime.IsZero() {
		st.StartTime = &w.startTime
	}
	initsDone := true
	initFailed := false
	for _, c := range w.inits {
		cs := w.containerStatus(c, final, false)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		switch {
		case c.succeeded:
		case c.sidecar && c.proc != nil:
		default:
			initsDone = false
			if c.started && c.lastTerm != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				initFailed = true
			}
		}
	}
	allReady := true
	for _, c := range w.apps {
		cs := w.containerStatus(c, final, !initsDone)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
		}
	}
	st.Phase = w.phase(pod, initsDone, initFailed)
	if final {
		st.Phase = corev1.PodSucceeded
		for _, c := range w.apps {
			if !c.started || c.lastTerm == nil || c.lastTerm.ExitCode != 0 {
				st.Phase = corev1.PodFailed
			}
		}
		allReady = false
	}

	gatesReady := true
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				found = true
			}
		}
		gatesReady = gatesReady && found
	}
	containersReady := allReady && initsDone && !final
	reason := func(ok bool, notReason string) string {
		if ok {
			return ""
		}
		return notReason
	}
	own := []corev1.PodCondition{
		w.condition(pod, corev1.PodReadyToStartContainers, w.sandbox != nil, ""),
		w.condition(pod, corev1.PodInitialized, initsDone, reason(initsDone, "ContainersNotInitialized")),
		w.condition(pod, corev1.ContainersReady, containersReady, reason(containersReady, "ContainersNotReady")),
		w.condition(pod, corev1.PodReady, containersReady && gatesReady, reason(containersReady && gatesReady, "ContainersNotReady")),
		w.condition(pod, corev1.PodScheduled, true, ""),
	}
	owned := map[corev1.PodConditionType]bool{}
	for _, c := range own {
		owned[c.Type] = true
	}
	// Conditions others own (readiness gates, DisruptionTarget) stay: the
	// merge patch replaces the whole list.
	for _, c := range pod.Status.Conditions {
		if !owned[c.Type] {
			st.Conditions = append(st.Conditions, c)
		}
	}
	st.Conditions = append(st.Conditions, own...)
	return st
}

// condition builds one pod condition, keeping its transition time while
// its status stays.
func (w *podWorker) condition(pod *corev1.Pod, t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	prev, seen := w.conds[t]
	if seen && prev.Status == s && prev.Reason == reason {
		return prev
	}
	c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now(), ObservedGeneration: pod.Generation}
	w.conds[t] = c
	return c
}

// containerStatus reports one container; waitingForInit says the pod's
// init containers have not finished.
func (w *podWorker) containerStatus(c *ctr, final, waitingForInit bool) corev1.ContainerStatus {
	w.mu.Lock()
	ready := c.ready
	w.mu.Unlock()
	cs := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		RestartCount: c.restarts,
	}
	if c.imageKey != "" {
		cs.ImageID = "edgeway-local://" + c.imageKey
	}
	running := c.proc != nil && c.proc.running() && !final
	switch {
	case running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.proc.startedAt}
		cs.ContainerID = containerID(w.uid, c.spec.Name, c.restarts)
		cs.Ready = ready
		cs.Started = ptr.To(true)
		if c.lastTerm != nil {
			cs.LastTerminationState.Terminated = c.lastTerm
		}
	case c.waiting != nil && !final:
		cs.State.Waiting = c.waiting
		cs.Started = ptr.To(false)
		if c.lastTerm != nil {
			cs.LastTerminationState.Terminated = c.lastTerm
		}
	case c.lastTerm != nil:
		cs.State.Terminated = c.lastTerm
		cs.ContainerID = c.lastTerm.ContainerID
		cs.Started = ptr.To(false)
	default:
		reason := "ContainerCreating"
		if waitingForInit {
			reason = "PodInitializing"
		}
		msg := ""
		if w.mountErr != "" {
			msg = w.mountErr
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		cs.Started = ptr.To(false)
	}
	return cs
}
