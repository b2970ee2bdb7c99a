package upstream

import (
	"os/exec"
	"strings"

	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

// SuiteVersion is the pinned conformance module version (go.mod); reports go
// under conformance/reports/<SuiteVersion>/.
const SuiteVersion = "v1.6.3"

// Profiles are the conformance profiles edgeway claims.
var Profiles = []suite.ConformanceProfileName{
	suite.GatewayHTTPConformanceProfileName,
	suite.GatewayTLSConformanceProfileName,
	suite.GatewayGRPCConformanceProfileName,
	suite.GatewayTCPConformanceProfileName,
	suite.GatewayUDPConformanceProfileName,
}

// defaultOptions are edgeway's settings for the suite; flags the caller sets
// explicitly override them (flags.ApplyAll). The address pools of
// GatewayStaticAddresses depend on the cluster: setStaticAddresses
// (staticaddresses.go) adds them.
func defaultOptions(gatewayClass string, skip []string, version string) suite.ConfigurableOptions {
	return suite.ConfigurableOptions{
		GatewayClassName:     gatewayClass,
		CleanupBaseResources: true,
		CleanupTestResources: true,
		Mode:                 "default",
		TimeoutConfig:        config.DefaultTimeoutConfig(),
		ConformanceProfiles:  Profiles,
		SkipTests:            skip,
		Implementation: confv1.Implementation{
			Organization: "edgeway",
			Project:      "edgeway",
			URL:          "https://github.com/edgeway/edgeway",
			Version:      version,
			Contact:      []string{"https://github.com/edgeway/edgeway/issues"},
		},
	}
}

// sourceVersion names the code under test: `git describe` of the checkout.
func sourceVersion(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "dev"
	}
	return v
}
