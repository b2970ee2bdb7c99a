package upstream

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	v1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/apis/v1alpha2"
	"sigs.k8s.io/gateway-api/apis/v1alpha3"
	"sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	"sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/flags"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/deploy"
	"github.com/edgeway/edgeway/conformance/kubebin"
)

// envKubeconfig names a running cluster (make cluster-up) to run against
// instead of starting one; edgeway is (re)installed there with helm.
const envKubeconfig = "EDGEWAY_KUBECONFIG"

var reportDir = flag.String("report-dir", "", "directory of the report and summary (default conformance/reports/"+SuiteVersion+")")

// TestConformance brings up the local cluster (or uses $EDGEWAY_KUBECONFIG),
// installs edgeway with its chart, runs the upstream suite with the five
// Gateway profiles and writes the report and summary.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: brings up a cluster and runs the whole suite (make conformance)")
	}
	log.SetLogger(zap.New(zap.WriteTo(os.Stdout), zap.UseDevMode(false)))
	repo, err := kubebin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	known, err := readKnownFailures(filepath.Join(repo, "conformance", "upstream", KnownFailuresFile))
	if err != nil {
		t.Fatal(err)
	}
	var skip []string
	for _, k := range known {
		skip = append(skip, k.Test)
	}

	ctx := context.Background()
	kubeconfig := os.Getenv(envKubeconfig)
	if kubeconfig == "" {
		start := time.Now()
		c := cluster.StartForTest(t)
		kubeconfig = c.Kubeconfig
		t.Logf("local cluster up in %s (kubeconfig %s)", time.Since(start).Round(time.Millisecond), kubeconfig)
	}
	start := time.Now()
	if err := deploy.Edgeway(ctx, deploy.Options{Kubeconfig: kubeconfig}); err != nil {
		t.Fatal(err)
	}
	t.Logf("edgeway installed with helm in %s", time.Since(start).Round(time.Millisecond))

	opts := suiteOptions(t, kubeconfig, defaultOptions(deploy.GatewayClassName, skip, sourceVersion(repo)))
	dir := *reportDir
	if dir == "" {
		dir = filepath.Join(repo, "conformance", "reports", SuiteVersion)
	}
	if opts.ReportOutputPath == "" {
		opts.ReportOutputPath = filepath.Join(dir, "edgeway-report.yaml")
	}

	cSuite, err := suite.NewConformanceTestSuite(opts)
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	t.Cleanup(func() { writeReport(t, cSuite, opts.ReportOutputPath, filepath.Join(dir, "summary.txt"), known) })
	cSuite.Setup(t, tests.ConformanceTests)
	if err := cSuite.Run(t, tests.ConformanceTests); err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
}

// suiteOptions builds the suite's clients the way conformance.DefaultOptions
// does, from the given kubeconfig rather than the ambient one, with edgeway's
// defaults under the caller's explicit flags.
func suiteOptions(t *testing.T, kubeconfig string, defaults suite.ConfigurableOptions) suite.ConformanceOptions {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kubeconfig, err)
	}
	// The suite creates and polls many objects at once; client-go's default
	// 5 QPS would throttle it, not the cluster.
	cfg.QPS, cfg.Burst = 100, 200
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, install := range []func() error{
		func() error { return v1alpha3.Install(c.Scheme()) },
		func() error { return v1alpha2.Install(c.Scheme()) },
		func() error { return v1beta1.Install(c.Scheme()) },
		func() error { return xv1alpha1.Install(c.Scheme()) },
		func() error { return v1.Install(c.Scheme()) },
		func() error { return apiextensionsv1.AddToScheme(c.Scheme()) },
	} {
		if err := install(); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configurable := defaults
	if err := setStaticAddresses(context.Background(), cs, &configurable); err != nil {
		t.Fatal(err)
	}
	if *flags.ConformanceOptionsFile != "" {
		data, err := os.ReadFile(*flags.ConformanceOptionsFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &configurable); err != nil {
			t.Fatalf("%s: %v", *flags.ConformanceOptionsFile, err)
		}
	}
	flags.ApplyAll(&configurable)
	t.Logf("GatewayStaticAddresses: usable %v, unusable %v (-usable-address and -unusable-address override them)",
		addressValues(configurable.UsableNetworkAddresses), addressValues(configurable.UnusableNetworkAddresses))
	return suite.ConformanceOptions{
		ConfigurableOptions: configurable,
		Client:              c,
		Clientset:           cs,
		RestConfig:          cfg,
		ManifestFS:          manifests(),
	}
}

func writeReport(t *testing.T, s *suite.ConformanceTestSuite, path, summaryPath string, known []knownFailure) {
	report, err := s.Report()
	if err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	// The suite lists profiles in map order: sorted, a committed report
	// changes only where the results do.
	sort.Slice(report.ProfileReports, func(i, j int) bool { return report.ProfileReports[i].Name < report.ProfileReports[j].Name })
	raw, err := yaml.Marshal(report)
	if err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	lines := Summarize(report)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if len(known) > 0 {
		b.WriteString("skipped as known failures (conformance/upstream/" + KnownFailuresFile + "):\n")
		for _, k := range known {
			b.WriteString("  " + k.Test + ": " + k.Reason + "\n")
		}
	}
	if err := os.WriteFile(summaryPath, []byte(b.String()), 0o644); err != nil {
		t.Errorf("conformance summary: %v", err)
	}
	t.Logf("conformance report: %s\n%s", path, b.String())
}
