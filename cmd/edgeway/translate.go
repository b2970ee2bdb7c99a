package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v2"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
)

// runTranslate runs the whole translation offline and prints one stage.
func runTranslate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	input := fs.String("f", "", "a YAML file or a directory of them (required)")
	output := fs.String("o", "status", "what to print: status, ir or xds")
	controllerName := fs.String("controller-name", snapshot.DefaultControllerName, "GatewayClass spec.controllerName to translate for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *input == "" {
		return errors.New("translate: -f FILE|DIR is required")
	}
	fi, err := os.Stat(*input)
	if err != nil {
		return fmt.Errorf("translate: %w", err)
	}
	var snap *snapshot.Snapshot
	if fi.IsDir() {
		snap, err = snapshot.LoadDir(*input)
	} else {
		snap, err = snapshot.LoadFiles(*input)
	}
	if err != nil {
		return err
	}
	snap.ControllerName = *controllerName
	// As `edgeway standalone` runs by default, so that what it would
	// refuse is refused here too.
	snap.ReservedPorts = standaloneReservedPorts(defaultStandaloneAdmin, defaultStandaloneXDS)
	x, statuses := gatewayapi.Translate(snap)
	refused := servable(x)
	var body []byte
	switch *output {
	case "status":
		body, err = sigsyaml.Marshal(statusObjects(statuses))
	case "ir":
		body, err = yaml.Marshal(redacted(x))
	case "xds":
		res, terr := xds.Translate(redacted(x))
		if terr != nil {
			return refusedError(terr)
		}
		body, err = xds.MarshalYAML(res)
	default:
		return fmt.Errorf("translate: -o %q: use status, ir or xds", *output)
	}
	if err != nil {
		return err
	}
	if _, err := out.Write(body); err != nil {
		return err
	}
	if refused != nil {
		return refusedError(refused)
	}
	return nil
}

// servable is what publishing x comes to before a data plane swaps it in:
// the xDS server's validation and translation, and the data plane's
// compiler. Translation is meant to keep every invalid input out of the
// IR (on the object's status instead), so an error here is edgeway's
// defect; translate reports it rather than printing output for a
// configuration that would never be served.
func servable(x *ir.IR) error {
	res, err := xds.Translate(x)
	if err != nil {
		return err
	}
	r := &config.Resources{}
	for _, list := range res {
		for _, m := range list {
			if err := r.Add(m); err != nil {
				return err
			}
		}
	}
	if _, err := config.Compile(r); err != nil {
		return fmt.Errorf("the data plane would refuse it: %w", err)
	}
	return nil
}

// refusedError says what a refusal means to the person running translate.
func refusedError(err error) error {
	return fmt.Errorf("translate: edgeway would refuse this configuration and keep serving the previous one (in standalone, for every Gateway). "+
		"This is a defect of edgeway, not of your input: please report it with this message and the output of -o ir; "+
		"meanwhile, find the object that causes it by leaving objects out. The refusal: %w", err)
}

// redacted returns a copy of x whose private keys are replaced, so that
// translate output can be pasted into an issue.
func redacted(x *ir.IR) *ir.IR {
	cp := *x
	cp.Secrets = make([]*ir.Secret, len(x.Secrets))
	for i, s := range x.Secrets {
		c := *s
		c.PrivateKey = "<redacted>"
		cp.Secrets[i] = &c
	}
	return &cp
}
