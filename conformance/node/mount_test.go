package node

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startHelperForTest starts the container helper as the node does (new mount and UTS
// namespaces; the host's network namespace, as no pod is involved) with the
// test binary in role "files" printing paths, and returns its log.
func startHelperForTest(t *testing.T, mounts []mountSpec, paths ...string) (string, *startError) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(containerSpec{Path: self, Argv: append([]string{self}, paths...), Hostname: "mount-test", Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(t.TempDir(), "0.log")
	lf, err := createLog(lp)
	if err != nil {
		t.Fatal(err)
	}
	p, serr := spawn(func(c *exec.Cmd) error { return startIn("", c) }, string(spec), []string{envRole + "=files"}, lf, func() {})
	if serr != nil {
		return "", serr
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("helper did not exit")
	}
	<-lf.done
	var b strings.Builder
	if err := serveLog(t.Context(), &b, lp, logOptions{tailLines: -1}, lf.done, nil); err != nil {
		t.Fatal(err)
	}
	if p.exitCode != 0 {
		t.Fatalf("files role exited %d; log:\n%s", p.exitCode, b.String())
	}
	return b.String(), nil
}

// TestMountsStayInside: volumes appear at mount paths that do not exist on
// the host (below /etc, below a directory that shows through a cover, in
// place of a dangling symlink), the covered directories still show their
// host entries, and the host is unchanged afterwards.
func TestMountsStayInside(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("from-volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	srcFile := filepath.Join(t.TempDir(), "single")
	if err := os.WriteFile(srcFile, []byte("single-file"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	if err := os.Mkdir(filepath.Join(host, "existing"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "existing", "orig"), []byte("host-entry"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(host, "dangling")); err != nil {
		t.Fatal(err)
	}
	etc := "/etc/edgeway-node-mount-test"
	if _, err := os.Lstat(etc); err == nil {
		t.Fatalf("%s exists on the host before the test: remove it", etc)
	}
	before := listTree(t, host)

	out, serr := startHelperForTest(t, []mountSpec{
		{Source: src, Target: etc + "/deep/dir", ReadOnly: true},
		{Source: srcFile, Target: etc + "/file.txt"},
		{Source: src, Target: filepath.Join(host, "new", "x")},
		{Source: src, Target: filepath.Join(host, "existing", "y")},
		{Source: srcFile, Target: filepath.Join(host, "dangling")},
	},
		etc+"/deep/dir/a", etc+"/file.txt",
		filepath.Join(host, "new", "x", "a"), filepath.Join(host, "existing", "y", "a"),
		filepath.Join(host, "existing", "orig"), filepath.Join(host, "dangling"),
		"write:"+etc+"/deep/dir/b", "write:"+filepath.Join(host, "new", "x", "c"))
	if serr != nil {
		t.Fatalf("helper: %s: %s", serr.reason, serr.msg)
	}
	for _, want := range []string{
		`FILE ` + etc + `/deep/dir/a "from-volume"`,
		`FILE ` + etc + `/file.txt "single-file"`,
		`FILE ` + filepath.Join(host, "new", "x", "a") + ` "from-volume"`,
		`FILE ` + filepath.Join(host, "existing", "y", "a") + ` "from-volume"`,
		`FILE ` + filepath.Join(host, "existing", "orig") + ` "host-entry"`,
		`FILE ` + filepath.Join(host, "dangling") + ` "single-file"`,
		`WRITE ` + etc + `/deep/dir/b error open ` + etc + `/deep/dir/b: read-only file system`,
		`WRITE ` + filepath.Join(host, "new", "x", "c") + ` ok`,
	} {
		if !hasLine(out, want) {
			t.Errorf("container lacks %q; log:\n%s", want, out)
		}
	}
	if _, err := os.Lstat(etc); err == nil {
		t.Errorf("%s exists on the host after the container ran", etc)
	}
	// The writable mount wrote into the volume, the read-only one did not.
	if b, err := os.ReadFile(filepath.Join(src, "c")); err != nil || string(b) != "written" {
		t.Errorf("volume file written through the writable mount: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(src, "b")); err == nil {
		t.Error("a file was written through the read-only mount")
	}
	if after := listTree(t, host); after != before {
		t.Errorf("host directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestMountTopLevelRefused: a mount path whose first element the host lacks
// cannot be made without covering /; the start error says so.
func TestMountTopLevelRefused(t *testing.T) {
	_, serr := startHelperForTest(t, []mountSpec{{Source: t.TempDir(), Target: "/edgeway-node-no-such-top/x"}})
	if serr == nil {
		t.Fatal("helper started with a mount below a missing top-level directory")
	}
	if serr.reason != "RunContainerError" || !strings.Contains(serr.msg, "/edgeway-node-no-such-top does not exist on this host") {
		t.Errorf("start error %s: %s", serr.reason, serr.msg)
	}
	if _, err := os.Lstat("/edgeway-node-no-such-top"); err == nil {
		t.Error("the missing top-level directory was created on the host")
	}
}

func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestVolumeOverTheBinarysDirectory: a volume mounted over the directory
// that holds the container's binary (the suite's coredns mounts a ConfigMap
// at /root while the node's binaries live under /root/.cache) still runs
// that binary, and the container sees the volume there.
func TestVolumeOverTheBinarysDirectory(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "Corefile"), []byte("from-configmap"), 0o644); err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Dir(self)
	out, serr := startHelperForTest(t, []mountSpec{{Source: vol, Target: binDir, ReadOnly: true}},
		filepath.Join(binDir, "Corefile"))
	if serr != nil {
		t.Fatalf("helper: %s: %s", serr.reason, serr.msg)
	}
	if want := `FILE ` + filepath.Join(binDir, "Corefile") + ` "from-configmap"`; !hasLine(out, want) {
		t.Errorf("container lacks %q; log:\n%s", want, out)
	}
}
