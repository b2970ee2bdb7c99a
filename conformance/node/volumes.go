package node

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A volume is materialized as a directory under the pod's directory:
// Secret, ConfigMap, downward API and projected volumes as files written the
// way the kubelet's atomic writer does (the visible names are symlinks into
// ..data, which points at a timestamped directory and is replaced in one
// rename, so a reader never sees half an update); emptyDir as an empty
// directory; hostPath as the host path itself. Containers see them at their
// mountPaths through bind mounts in a private mount namespace (see
// mount_linux.go).

// file is one file of an atomically written volume.
type file struct {
	data []byte
	mode fs.FileMode
}

// volumeSource is where a materialized volume is and whether containers
// may write to it.
type volumeSource struct {
	path     string
	readOnly bool
}

// tokenCache keeps service account tokens until 80% of their lifetime, as
// the kubelet refreshes them.
type tokenCache map[string]cachedToken

type cachedToken struct {
	token   string
	refresh time.Time
}

// volumes materializes every volume of a pod under dir (the pod's volume
// directory) and returns where each one is. Volume kinds the node cannot
// provide are an error naming them.
func (n *Node) volumes(ctx context.Context, pod *corev1.Pod, dir string, facts podFacts, tokens tokenCache) (map[string]volumeSource, error) {
	objs := newObjects(n.client, pod.Namespace)
	out := map[string]volumeSource{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		vdir := filepath.Join(dir, v.Name)
		var files map[string]file
		var err error
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(vdir, 0o777); err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
			// 0777 as the kubelet makes it: any user the container runs as may write.
			if err := os.Chmod(vdir, 0o777); err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
			out[v.Name] = volumeSource{path: vdir}
			continue
		case v.HostPath != nil:
			p, err := hostPath(v.HostPath)
			if err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
			out[v.Name] = volumeSource{path: p}
			continue
		case v.Secret != nil:
			files, err = secretFiles(ctx, objs, v.Secret)
		case v.ConfigMap != nil:
			files, err = configMapFiles(ctx, objs, v.ConfigMap)
		case v.DownwardAPI != nil:
			files, err = downwardFiles(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode), facts)
		case v.Projected != nil:
			files, err = n.projectedFiles(ctx, pod, objs, v.Projected, facts, tokens)
		default:
			return nil, fmt.Errorf("volume %q: this node provides emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes only; %s", v.Name, volumeKindHint(v))
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if err := writeAtomic(vdir, files); err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out[v.Name] = volumeSource{path: vdir, readOnly: true}
	}
	return out, nil
}

func volumeKindHint(v *corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim is not one: use an emptyDir"
	case v.Ephemeral != nil:
		return "ephemeral is not one: use an emptyDir"
	case v.Image != nil:
		return "image is not one"
	}
	return "this kind is not one"
}

func mode(m *int32) fs.FileMode {
	if m == nil {
		return 0o644
	}
	return fs.FileMode(*m) & fs.ModePerm
}

func itemMode(item *int32, def fs.FileMode) fs.FileMode {
	if item != nil {
		return fs.FileMode(*item) & fs.ModePerm
	}
	return def
}

// hostPath checks a hostPath volume's type as the kubelet does, creating
// the directory or file only for the *OrCreate types.
func hostPath(h *corev1.HostPathVolumeSource) (string, error) {
	p := h.Path
	typ := corev1.HostPathUnset
	if h.Type != nil {
		typ = *h.Type
	}
	st, err := os.Stat(p)
	switch typ {
	case corev1.HostPathUnset:
		return p, nil
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return p, os.MkdirAll(p, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			return p, f.Close()
		}
	}
	if err != nil {
		return "", fmt.Errorf("hostPath %s (type %s): %w", p, typ, err)
	}
	switch typ {
	case corev1.HostPathDirectory, corev1.HostPathDirectoryOrCreate:
		if !st.IsDir() {
			return "", fmt.Errorf("hostPath %s is not a directory (type %s)", p, typ)
		}
	case corev1.HostPathFile, corev1.HostPathFileOrCreate:
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath %s is not a file (type %s)", p, typ)
		}
	case corev1.HostPathSocket:
		if st.Mode()&fs.ModeSocket == 0 {
			return "", fmt.Errorf("hostPath %s is not a socket (type %s)", p, typ)
		}
	}
	return p, nil
}

func secretFiles(ctx context.Context, objs *objects, v *corev1.SecretVolumeSource) (map[string]file, error) {
	s, err := objs.secret(ctx, v.SecretName)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if optional(v.Optional) {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("Secret %s/%s does not exist; create it or mark the volume optional", objs.ns, v.SecretName)
	}
	return keyFiles(s.Data, v.Items, mode(v.DefaultMode), optional(v.Optional), "Secret "+objs.ns+"/"+v.SecretName)
}

func configMapFiles(ctx context.Context, objs *objects, v *corev1.ConfigMapVolumeSource) (map[string]file, error) {
	cm, err := objs.configMap(ctx, v.Name)
	if err != nil {
		return nil, err
	}
	if cm == nil {
		if optional(v.Optional) {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("ConfigMap %s/%s does not exist; create it or mark the volume optional", objs.ns, v.Name)
	}
	return keyFiles(configMapData(cm), v.Items, mode(v.DefaultMode), optional(v.Optional), "ConfigMap "+objs.ns+"/"+v.Name)
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

// keyFiles projects keys to files: every key as a file of its name, or only
// the listed items at their paths.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def fs.FileMode, opt bool, what string) (map[string]file, error) {
	files := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{data: v, mode: def}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if opt {
				continue
			}
			return nil, fmt.Errorf("%s has no key %q (listed in the volume's items)", what, it.Key)
		}
		files[it.Path] = file{data: v, mode: itemMode(it.Mode, def)}
	}
	return files, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def fs.FileMode, facts podFacts) (map[string]file, error) {
	files := map[string]file{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podField(pod, it.FieldRef.FieldPath, facts)
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceField(pod, c, it.ResourceFieldRef, facts)
		}
		if err != nil {
			return nil, fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		files[it.Path] = file{data: []byte(v), mode: itemMode(it.Mode, def)}
	}
	return files, nil
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func (n *Node) projectedFiles(ctx context.Context, pod *corev1.Pod, objs *objects, v *corev1.ProjectedVolumeSource, facts podFacts, tokens tokenCache) (map[string]file, error) {
	def := mode(v.DefaultMode)
	files := map[string]file{}
	add := func(more map[string]file) {
		for k, f := range more {
			files[k] = f
		}
	}
	for _, src := range v.Sources {
		switch {
		case src.Secret != nil:
			s, err := objs.secret(ctx, src.Secret.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if optional(src.Secret.Optional) {
					continue
				}
				return nil, fmt.Errorf("Secret %s/%s does not exist; create it or mark the projection optional", objs.ns, src.Secret.Name)
			}
			fs, err := keyFiles(s.Data, src.Secret.Items, def, optional(src.Secret.Optional), "Secret "+objs.ns+"/"+src.Secret.Name)
			if err != nil {
				return nil, err
			}
			add(fs)
		case src.ConfigMap != nil:
			cm, err := objs.configMap(ctx, src.ConfigMap.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if optional(src.ConfigMap.Optional) {
					continue
				}
				return nil, fmt.Errorf("ConfigMap %s/%s does not exist; create it or mark the projection optional (kube-root-ca.crt is published by kube-controller-manager's root-ca-certificate-publisher-controller)", objs.ns, src.ConfigMap.Name)
			}
			fs, err := keyFiles(configMapData(cm), src.ConfigMap.Items, def, optional(src.ConfigMap.Optional), "ConfigMap "+objs.ns+"/"+src.ConfigMap.Name)
			if err != nil {
				return nil, err
			}
			add(fs)
		case src.DownwardAPI != nil:
			fs, err := downwardFiles(pod, src.DownwardAPI.Items, def, facts)
			if err != nil {
				return nil, err
			}
			add(fs)
		case src.ServiceAccountToken != nil:
			tok, err := n.serviceAccountToken(ctx, pod, src.ServiceAccountToken, tokens)
			if err != nil {
				return nil, err
			}
			m := def
			if v.DefaultMode == nil {
				m = 0o600
			}
			files[src.ServiceAccountToken.Path] = file{data: []byte(tok), mode: m}
		default:
			return nil, fmt.Errorf("projected volume source not supported by this node (secret, configMap, downwardAPI and serviceAccountToken are)")
		}
	}
	return files, nil
}

// serviceAccountToken asks the API server for a token bound to the pod (the
// TokenRequest API, as the kubelet does), reusing one until 80% of its
// lifetime has passed.
func (n *Node) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, tokens tokenCache) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := fmt.Sprintf("%s|%s|%v", p.Audience, p.Path, p.ExpirationSeconds)
	if c, ok := tokens[key]; ok && time.Now().Before(c.refresh) {
		return c.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := n.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for ServiceAccount %s/%s: %w", pod.Namespace, sa, err)
	}
	now := time.Now()
	life := tr.Status.ExpirationTimestamp.Sub(now)
	tokens[key] = cachedToken{token: tr.Status.Token, refresh: now.Add(life * 8 / 10)}
	return tr.Status.Token, nil
}

// writeAtomic makes dir hold exactly files, the way the kubelet's atomic
// writer does: the files go to a new hidden timestamped directory, ..data is
// switched to it with one rename, each top-level name is a symlink through
// ..data, and the previous generation is removed. Nothing is written when
// the content is unchanged.
func writeAtomic(dir string, files map[string]file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for p := range files {
		if !validFilePath(p) {
			return fmt.Errorf("file path %q must be relative, without '..' elements", p)
		}
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	if old != "" && sameFiles(filepath.Join(dir, old), files) {
		return nil
	}
	gen, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(gen, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(gen, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil { // umask
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		return err
	}
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(filepath.ToSlash(p), "/", 2)[0]] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || top[name] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(gen) {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

func validFilePath(p string) bool {
	if p == "" || filepath.IsAbs(p) {
		return false
	}
	for _, el := range strings.Split(filepath.ToSlash(p), "/") {
		if el == ".." || el == "" {
			return false
		}
	}
	return true
}

// sameFiles reports whether the generation directory gen holds exactly files.
func sameFiles(gen string, files map[string]file) bool {
	count := 0
	err := filepath.WalkDir(gen, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(gen, path)
		f, ok := files[rel]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.mode {
			return fs.ErrInvalid
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, f.data) {
			return fs.ErrInvalid
		}
		count++
		return nil
	})
	return err == nil && count == len(files)
}
