//go:build tools

// Package tools pins the main packages hack/kube-bins.sh builds, so that
// go.mod and go.sum list everything they need and `go build` works offline
// once the module cache is warm.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "helm.sh/helm/v4/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
