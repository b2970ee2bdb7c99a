package infra

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// dataplaneArgs is the command line of the data plane of gw: the xDS node
// id is the Gateway's (the xDS server only serves it that Gateway's
// configuration, and only with the client certificate mounted from the
// Gateway's Secret); the admin port is reachable by the kubelet's probes.
func dataplaneArgs(gw *gwv1.Gateway, o Options) []string {
	return []string{
		"dataplane",
		"--xds-server", o.XDSAddress,
		"--node-id", gw.Namespace + "/" + gw.Name,
		"--admin-address", fmt.Sprintf("0.0.0.0:%d", adminPort),
		"--xds-cert-file", certDir + "/" + keyCert,
		"--xds-key-file", certDir + "/" + keyKey,
		"--xds-ca-file", certDir + "/" + keyCA,
		"--log-format", "json",
	}
}

// renderDeployment is the data plane Deployment. Pods run as an
// unprivileged user with a read-only root file system and no capabilities;
// ports below 1024 are allowed by the namespaced sysctl
// net.ipv4.ip_unprivileged_port_start (in the "safe" set every Pod
// Security level allows) instead of NET_BIND_SERVICE.
func renderDeployment(gw *gwv1.Gateway, ports []port, cfg config, o Options) (*appsv1ac.DeploymentApplyConfiguration, *Problem) {
	var problem *Problem
	if cfg.image == "" {
		problem = problemf(gwv1.GatewayReasonInvalid, "no data plane image: set spec.image in the EdgewayConfig or --dataplane-image on the controller")
	}
	name := ResourceName(gw.Name)

	container := corev1ac.Container().WithName(containerName).WithImage(cfg.image).
		WithArgs(dataplaneArgs(gw, o)...).
		WithPorts(corev1ac.ContainerPort().WithName(adminPortName).WithContainerPort(adminPort).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/ready").WithPort(intstr.FromString(adminPortName))).
			WithPeriodSeconds(5).WithFailureThreshold(3)).
		WithLivenessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/healthz").WithPort(intstr.FromString(adminPortName))).
			WithPeriodSeconds(10).WithFailureThreshold(3)).
		WithSecurityContext(corev1ac.SecurityContext().
			WithRunAsNonRoot(true).WithRunAsUser(runAsID).WithRunAsGroup(runAsID).
			WithReadOnlyRootFilesystem(true).WithAllowPrivilegeEscalation(false).WithPrivileged(false).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL"))).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName(certVolume).WithMountPath(certDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName(tmpVolume).WithMountPath("/tmp"))
	for _, p := range ports {
		container.WithPorts(corev1ac.ContainerPort().WithName(p.name()).WithContainerPort(p.number).WithProtocol(p.protocol))
	}
	if cfg.imagePullPolicy != "" {
		container.WithImagePullPolicy(cfg.imagePullPolicy)
	}
	if r := cfg.resources; r != nil {
		rr := corev1ac.ResourceRequirements()
		if len(r.Limits) > 0 {
			rr.WithLimits(maps.Clone(r.Limits))
		}
		if len(r.Requests) > 0 {
			rr.WithRequests(maps.Clone(r.Requests))
		}
		container.WithResources(rr)
	}

	podSecurity := corev1ac.PodSecurityContext().
		WithRunAsNonRoot(true).WithRunAsUser(runAsID).WithRunAsGroup(runAsID).
		// The credentials volume is group-readable (0440) by this group.
		WithFSGroup(runAsID).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
	for _, p := range ports {
		if p.number < 1024 {
			podSecurity.WithSysctls(corev1ac.Sysctl().WithName("net.ipv4.ip_unprivileged_port_start").WithValue("0"))
			break
		}
	}

	pod := corev1ac.PodSpec().
		WithServiceAccountName(name).
		WithAutomountServiceAccountToken(false).
		WithEnableServiceLinks(false).
		WithTerminationGracePeriodSeconds(terminationGrace).
		WithSecurityContext(podSecurity).
		WithContainers(container).
		WithVolumes(
			corev1ac.Volume().WithName(certVolume).WithSecret(corev1ac.SecretVolumeSource().
				WithSecretName(SecretName(gw.Name)).WithDefaultMode(0o440)),
			corev1ac.Volume().WithName(tmpVolume).WithEmptyDir(corev1ac.EmptyDirVolumeSource()))

	if err := scheduleOn(pod, gw, cfg.scheduling); err != nil && problem == nil {
		problem = problemf(gwv1.GatewayReasonInvalid, "EdgewayConfig %v", err)
	}

	spec := appsv1ac.DeploymentSpec().
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(gw.Name))).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
			WithSpec(pod))
	// Unset, the field is not ours: Kubernetes defaults it to 1 and an
	// autoscaler may own it.
	if cfg.replicas != nil {
		spec.WithReplicas(*cfg.replicas)
	}
	dep := appsv1ac.Deployment(name, gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
		WithOwnerReferences(ownerRef(gw)).WithSpec(spec)
	return dep, problem
}
