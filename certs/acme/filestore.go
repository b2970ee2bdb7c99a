package acme

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// FileStore keeps Secrets as files in a state directory (standalone mode):
//
//	<dir>/secrets/<namespace>/<name>.yaml        every Secret, as a v1 Secret manifest
//	<dir>/certs/<namespace>/<name>/tls.crt       certificate Secrets also as PEM files,
//	<dir>/certs/<namespace>/<name>/tls.key       for whoever expects them on a VM
//
// Directories are 0700 and files 0600 (they hold private keys); every file
// is written atomically (a temporary file in the same directory, synced,
// then renamed over the old one), so a reader sees the old or the new
// version, never a partial one.
type FileStore struct {
	dir      string
	onChange func()
	mu       sync.Mutex // serializes writers: read-compare-write of Put
}

// NewFileStore opens (creating it if needed) the state directory dir.
// onChange, if not nil, is called after every successful Put (the
// standalone source then overlays Secrets() on its Snapshot again).
func NewFileStore(dir string, onChange func()) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("no state directory given")
	}
	for _, d := range []string{dir, filepath.Join(dir, "secrets"), filepath.Join(dir, "certs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	// Probe that the directory is writable now rather than at the first
	// certificate.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("state directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &FileStore{dir: dir, onChange: onChange}, nil
}

// Dir is the state directory.
func (f *FileStore) Dir() string { return f.dir }

// checkRef refuses names that are not Kubernetes names: they become path
// elements, so "..", "/" and the like must never get through.
func checkRef(ref types.NamespacedName) error {
	if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q: %s", ref.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", ref.Name, strings.Join(errs, "; "))
	}
	return nil
}

func (f *FileStore) secretPath(ref types.NamespacedName) string {
	return filepath.Join(f.dir, "secrets", ref.Namespace, ref.Name+".yaml")
}

// CertDir is where the PEM files of certificate Secret ref are.
func (f *FileStore) CertDir(ref types.NamespacedName) string {
	return filepath.Join(f.dir, "certs", ref.Namespace, ref.Name)
}

// Get implements Store.
func (f *FileStore) Get(_ context.Context, ref types.NamespacedName) (*corev1.Secret, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	return readSecretFile(f.secretPath(ref))
}

func readSecretFile(path string) (*corev1.Secret, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{}
	if err := yaml.UnmarshalStrict(raw, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Put implements Store.
func (f *FileStore) Put(_ context.Context, s *corev1.Secret) error {
	ref := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	if err := checkRef(ref); err != nil {
		return err
	}
	f.mu.Lock()
	err := f.put(ref, s)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if f.onChange != nil {
		f.onChange()
	}
	return nil
}

func (f *FileStore) put(ref types.NamespacedName, s *corev1.Secret) error {
	path := f.secretPath(ref)
	if s.Type == corev1.SecretTypeTLS {
		old, err := readSecretFile(path)
		if err != nil {
			return err
		}
		if old != nil && old.Type == corev1.SecretTypeTLS && old.Annotations[snapshot.ACMEIssuerAnnotation] == "" {
			return fmt.Errorf("Secret %s (%s): %w", ref, path, ErrNotManaged)
		}
	}
	out := &corev1.Secret{
		Type:       s.Type,
		Data:       s.Data,
		StringData: s.StringData,
	}
	out.APIVersion, out.Kind = "v1", "Secret"
	out.Namespace, out.Name = s.Namespace, s.Name
	out.Labels, out.Annotations = s.Labels, s.Annotations
	raw, err := yaml.Marshal(out)
	if err != nil {
		return err
	}
	// The PEM files first: once the manifest is in place (and onChange
	// runs), the files a VM user reads match it.
	if s.Type == corev1.SecretTypeTLS {
		dir := f.CertDir(ref)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if err := writeAtomic(filepath.Join(dir, k), s.Data[k]); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeAtomic(path, raw)
}

// Secrets returns every Secret in the store, sorted by namespace and name.
func (f *FileStore) Secrets() ([]*corev1.Secret, error) {
	root := filepath.Join(f.dir, "secrets")
	var out []*corev1.Secret
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".yaml") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		s, err := readSecretFile(path)
		if err != nil {
			return err
		}
		if s == nil { // removed meanwhile
			return nil
		}
		// The path is the truth about the identity: a hand-edited
		// manifest must not move a Secret elsewhere.
		rel, _ := filepath.Rel(root, path)
		ns, file := filepath.Split(rel)
		s.Namespace, s.Name = filepath.Clean(ns), strings.TrimSuffix(file, ".yaml")
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// writeAtomic replaces path with data (mode 0600): temporary file in the
// same directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
