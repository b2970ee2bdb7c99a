package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The test binary doubles as a container image: with CLUSTER_TEST_ROLE=probe
// it is an in-cluster client (see probe).
const envRole = "CLUSTER_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "probe":
		os.Exit(probe())
	case "":
		if os.Geteuid() != 0 {
			// make test-unit (-short) runs without root: skip, as the
			// end-to-end tests do.
			if flag.Parse(); testing.Short() {
				fmt.Println("cluster: skipped in -short mode (the tests need root)")
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "cluster tests create network namespaces, links and mounts: run them as root")
			os.Exit(1)
		}
		SweepDeadTestClusters()
		code := m.Run()
		// Empty unless a test left a cluster behind (the next run's sweep
		// removes it then).
		os.Remove(filepath.Join(TestStateRootBase, strconv.Itoa(os.Getpid())))
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// probe runs inside a Pod and prints one line per check, what a workload of
// the cluster relies on:
//
//	ECHO <pod>        GET http://$ECHO_HOST/ (a Service by its DNS name) answered by echo pod <pod>
//	VERSION <v>       GET https://kubernetes.default.svc/version with the mounted token and ca.crt
//	WHOAMI <user>     rest.InClusterConfig (KUBERNETES_SERVICE_HOST/PORT, the kubernetes ClusterIP): who the token is
//
// It exits 1 at the first failure, printing FAIL and why.
func probe() int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL "+format+"\n", args...)
		return 1
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + os.Getenv("ECHO_HOST") + "/")
	if err != nil {
		return fail("echo: %v", err)
	}
	var echo struct {
		Pod string `json:"pod"`
	}
	err = json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	if err != nil {
		return fail("echo: %v", err)
	}
	fmt.Printf("ECHO %s\n", echo.Pod)

	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		return fail("token: %v", err)
	}
	caPEM, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		return fail("ca.crt: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fail("ca.crt holds no certificate")
	}
	req, _ := http.NewRequest(http.MethodGet, "https://kubernetes.default.svc/version", nil)
	req.Header.Set("Authorization", "Bearer "+string(token))
	tc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = tc.Do(req)
	if err != nil {
		return fail("version: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &v) != nil {
		return fail("version: %s: %s", resp.Status, b)
	}
	fmt.Printf("VERSION %s\n", v.GitVersion)

	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fail("in-cluster config: %v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail("in-cluster client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fail("self subject review via %s: %v", cfg.Host, err)
	}
	fmt.Printf("WHOAMI %s\n", strings.TrimSpace(review.Status.UserInfo.Username))
	return 0
}
