package acme

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

func TestDNSProviderCredentialsNeverFromTheProcessEnvironment(t *testing.T) {
	// The controller's own environment has settings for the provider; they
	// must be invisible to an issuer, and intact afterwards.
	t.Setenv("HTTPREQ_ENDPOINT", "http://127.0.0.1:1/process")
	t.Setenv("HTTPREQ_PROPAGATION_TIMEOUT", "999")

	d := &v1alpha1.ACMEDNS01{Provider: "httpreq"}
	_, err := newDNSProvider(d, nil, false)
	if err == nil || !strings.Contains(err.Error(), "HTTPREQ_ENDPOINT") {
		t.Fatalf("httpreq without credentials: err = %v, want one naming HTTPREQ_ENDPOINT (the process's value must not be used)", err)
	}

	d.PropagationTimeout = &metav1.Duration{Duration: 42 * time.Second}
	p, err := newDNSProvider(d, map[string]string{"HTTPREQ_ENDPOINT": "http://127.0.0.1:2/issuer", "HTTPREQ_POLLING_INTERVAL": "3"}, false)
	if err != nil {
		t.Fatal(err)
	}
	timeout, interval := p.(challenge.ProviderTimeout).Timeout()
	if timeout != 42*time.Second || interval != 3*time.Second {
		t.Errorf("Timeout() = %v, %v; want spec.dns01.propagationTimeout 42s and the credentials' polling interval 3s", timeout, interval)
	}
	if got := os.Getenv("HTTPREQ_ENDPOINT"); got != "http://127.0.0.1:1/process" {
		t.Errorf("HTTPREQ_ENDPOINT after building = %q, want the process's value back", got)
	}
	if got, ok := os.LookupEnv("HTTPREQ_POLLING_INTERVAL"); ok {
		t.Errorf("HTTPREQ_POLLING_INTERVAL left in the environment: %q", got)
	}
	if got := os.Getenv("HTTPREQ_PROPAGATION_TIMEOUT"); got != "999" {
		t.Errorf("HTTPREQ_PROPAGATION_TIMEOUT after building = %q, want the process's value back", got)
	}
}

func TestDNSProviderRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		provider  string
		creds     map[string]string
		allowExec bool
		want      string
	}{
		{"unknown provider", "nosuchdns", nil, false, "not built into edgeway (built in: cloudflare, digitalocean, exec, httpreq, rfc2136, route53)"},
		{"foreign variable", "httpreq", map[string]string{"HTTPREQ_ENDPOINT": "http://127.0.0.1:1", "PATH": "/tmp"}, false, "key PATH is not a variable of DNS provider httpreq"},
		{"exec disabled", "exec", map[string]string{"EXEC_PATH": "/bin/true"}, false, "runs a program inside the controller"},
		{"provider's own error", "cloudflare", nil, false, "cloudflare"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newDNSProvider(&v1alpha1.ACMEDNS01{Provider: tc.provider}, tc.creds, tc.allowExec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// exec when allowed; the rfc2136 alias.
	if _, err := newDNSProvider(&v1alpha1.ACMEDNS01{Provider: "exec"}, map[string]string{"EXEC_PATH": "/bin/true"}, true); err != nil {
		t.Errorf("exec allowed: %v", err)
	}
	if _, err := newDNSProvider(&v1alpha1.ACMEDNS01{Provider: "dnsupdate"}, map[string]string{"DNSUPDATE_NAMESERVER": "127.0.0.1:53"}, false); err != nil {
		t.Errorf("dnsupdate (rfc2136's alias): %v", err)
	}
}

func TestRoute53NeedsKeysFromTheSecret(t *testing.T) {
	// The controller's own AWS identity must not be used by an issuer.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPROCESS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "process-secret")
	d := &v1alpha1.ACMEDNS01{Provider: "route53"}
	if _, err := newDNSProvider(d, map[string]string{"AWS_REGION": "eu-west-1"}, false); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required") {
		t.Fatalf("route53 without keys in the Secret: err = %v, want a refusal", err)
	}
	p, err := newDNSProvider(d, map[string]string{"AWS_ACCESS_KEY_ID": "AKIDISSUER", "AWS_SECRET_ACCESS_KEY": "issuer-secret"}, false)
	if err != nil {
		t.Fatalf("route53 with keys: %v", err)
	}
	if timeout, _ := p.(challenge.ProviderTimeout).Timeout(); timeout != defaultPropagationTimeout {
		t.Errorf("propagation timeout = %v, want the default %v", timeout, defaultPropagationTimeout)
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_REGION"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q left in the environment", k, v)
		}
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") != "AKIDPROCESS" {
		t.Errorf("the process's AWS_ACCESS_KEY_ID was not restored")
	}
}
