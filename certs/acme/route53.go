package acme

import (
	"errors"
	"os"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/platform/config/env"
	"github.com/go-acme/lego/v4/providers/dns/route53"
)

// newRoute53 builds lego's Route 53 provider with the credentials Secret's
// keys only. It runs inside withEnv, so the AWS_ variables are exactly the
// Secret's. The AWS SDK would otherwise fall back to ambient identities
// (shared config files in the controller's home, the EC2 instance profile,
// a pod's web identity): an issuer in any namespace would act as the
// controller's AWS identity. So static keys are required, and the SDK's
// shared files and instance metadata are switched off while it loads.
func newRoute53() (challenge.Provider, error) {
	id, secret := env.GetOrFile(route53.EnvAccessKeyID), env.GetOrFile(route53.EnvSecretAccessKey)
	if id == "" || secret == "" {
		return nil, errors.New("route53: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required in the credentials Secret (edgeway never uses the controller's own AWS identity; AWS_ASSUME_ROLE_ARN may name a role to assume with them)")
	}
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := route53.NewDefaultConfig()
	cfg.AccessKeyID, cfg.SecretAccessKey = id, secret
	cfg.SessionToken = env.GetOrFile("AWS_SESSION_TOKEN")
	// Route 53 is a global service; its API lives in us-east-1.
	cfg.Region = env.GetOrDefaultString(route53.EnvRegion, "us-east-1")
	return route53.NewDNSProviderConfig(cfg)
}
