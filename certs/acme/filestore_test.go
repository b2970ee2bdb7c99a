package acme

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/snapshot"
)

func tlsSecret(ns, name string, annotations map[string]string, crt, key string) *corev1.Secret {
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		corev1.TLSCertKey: []byte(crt), corev1.TLSPrivateKeyKey: []byte(key),
	}}
	s.Namespace, s.Name, s.Annotations = ns, name, annotations
	return s
}

func TestFileStoreRoundTripFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var changes atomic.Int32
	fs, err := NewFileStore(dir, func() { changes.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := types.NamespacedName{Namespace: "default", Name: "app-tls"}
	if got, err := fs.Get(ctx, ref); err != nil || got != nil {
		t.Fatalf("Get of a missing Secret = %v, %v; want nil, nil", got, err)
	}
	managed := map[string]string{snapshot.ACMEIssuerAnnotation: "default/le", snapshot.ACMEDomainsAnnotation: "app.example.com"}
	if err := fs.Put(ctx, tlsSecret("default", "app-tls", managed, "CERT-1", "KEY-1")); err != nil {
		t.Fatal(err)
	}
	if changes.Load() != 1 {
		t.Errorf("onChange called %d times after one Put, want 1", changes.Load())
	}
	got, err := fs.Get(ctx, ref)
	if err != nil || got == nil {
		t.Fatalf("Get after Put = %v, %v", got, err)
	}
	if got.Type != corev1.SecretTypeTLS || string(got.Data[corev1.TLSCertKey]) != "CERT-1" || got.Annotations[snapshot.ACMEIssuerAnnotation] != "default/le" {
		t.Errorf("Get after Put = %+v", got)
	}

	// The layout and the modes a VM operator relies on.
	for path, mode := range map[string]os.FileMode{
		dir:                                      0o700,
		filepath.Join(dir, "secrets", "default"): 0o700,
		filepath.Join(dir, "secrets", "default", "app-tls.yaml"):     0o600,
		filepath.Join(dir, "certs", "default", "app-tls"):            0o700,
		filepath.Join(dir, "certs", "default", "app-tls", "tls.crt"): 0o600,
		filepath.Join(dir, "certs", "default", "app-tls", "tls.key"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "certs", "default", "app-tls", "tls.key")); string(b) != "KEY-1" {
		t.Errorf("tls.key = %q, want KEY-1", b)
	}

	// Replacing rewrites both the manifest and the PEM files, leaving no
	// temporary files behind.
	if err := fs.Put(ctx, tlsSecret("default", "app-tls", managed, "CERT-2", "KEY-2")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "certs", "default", "app-tls", "tls.crt")); string(b) != "CERT-2" {
		t.Errorf("tls.crt after the second Put = %q, want CERT-2", b)
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})

	// Secrets lists everything, sorted, with the identity of the path.
	st, err := snapshot.EncodeACMEState(ref, &snapshot.ACMEState{Issuer: "default/le", Phase: snapshot.ACMEPending})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Put(ctx, st); err != nil {
		t.Fatal(err)
	}
	other := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}
	other.Namespace, other.Name = "apps", "le-acme-account"
	if err := fs.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, err := fs.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	if got, want := strings.Join(names, " "), "apps/le-acme-account default/app-tls default/app-tls-acme-state"; got != want {
		t.Errorf("Secrets() = %s, want %s", got, want)
	}
	if changes.Load() != 4 {
		t.Errorf("onChange called %d times after four Puts, want 4", changes.Load())
	}

	// A second store on the same directory (a restart) sees it all.
	fs2, err := NewFileStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fs2.Get(ctx, ref); got == nil || string(got.Data[corev1.TLSCertKey]) != "CERT-2" {
		t.Errorf("a new FileStore on the same directory: Get = %+v", got)
	}
}

func TestFileStoreNeverOverwritesUnmanagedCertificate(t *testing.T) {
	fs, err := NewFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := fs.Put(ctx, tlsSecret("default", "mine", nil, "USER-CERT", "USER-KEY")); err != nil {
		t.Fatal(err)
	}
	err = fs.Put(ctx, tlsSecret("default", "mine", map[string]string{snapshot.ACMEIssuerAnnotation: "default/le"}, "ACME", "ACME"))
	if !errors.Is(err, ErrNotManaged) {
		t.Fatalf("Put over an unmanaged certificate Secret: err = %v, want ErrNotManaged", err)
	}
	got, _ := fs.Get(ctx, types.NamespacedName{Namespace: "default", Name: "mine"})
	if string(got.Data[corev1.TLSCertKey]) != "USER-CERT" {
		t.Errorf("the unmanaged Secret was changed: %q", got.Data[corev1.TLSCertKey])
	}
}

func TestFileStoreRefusesPathLikeNames(t *testing.T) {
	fs, err := NewFileStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ref := range []types.NamespacedName{
		{Namespace: "..", Name: "x"},
		{Namespace: "default", Name: "../../etc/passwd"},
		{Namespace: "a/b", Name: "x"},
		{Namespace: "default", Name: ""},
	} {
		s := &corev1.Secret{}
		s.Namespace, s.Name = ref.Namespace, ref.Name
		if err := fs.Put(ctx, s); err == nil {
			t.Errorf("Put(%s) succeeded, want an error", ref)
		}
		if _, err := fs.Get(ctx, ref); err == nil {
			t.Errorf("Get(%s) succeeded, want an error", ref)
		}
	}
}

func TestNewFileStoreUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere; a regular file as the directory fails
		// for everyone.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		if _, err := NewFileStore(filepath.Join(file, "state"), nil); err == nil {
			t.Fatal("NewFileStore under a regular file succeeded")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := NewFileStore(filepath.Join(dir, "state"), nil); err == nil {
		t.Fatal("NewFileStore in a read-only directory succeeded")
	}
}
