package run

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// TestXDSCredentialsFlags: the three mTLS files go together; none means
// plaintext; unreadable files fail at start, naming the file.
func TestXDSCredentialsFlags(t *testing.T) {
	if _, err := xdsCredentials(xdsclient.TLSFiles{}); err != nil {
		t.Fatalf("no files (plaintext): %v", err)
	}
	_, err := xdsCredentials(xdsclient.TLSFiles{CertFile: "c", KeyFile: "k"})
	if err == nil || !strings.Contains(err.Error(), "give all three or none") {
		t.Fatalf("two of three: %v", err)
	}
	_, err = xdsCredentials(xdsclient.TLSFiles{CertFile: "/nonexistent/tls.crt", KeyFile: "k", CAFile: "ca"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/tls.crt") {
		t.Fatalf("missing file: %v", err)
	}
}
