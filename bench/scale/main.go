// Command scale measures edgeway's control plane at 10, 100, 1000 and 5000
// HTTPRoutes on the local cluster (`make bench-scale`, bench/scale/README.md):
// the controller's and the data plane's memory and CPU, the time from an
// HTTPRoute write until the data plane serves it, and the answers the data
// plane gives while routes churn under load. It writes its raw data and a
// summary.md under bench/results/scale/<UTC time>/. Run it as root (the
// local cluster creates network namespaces), by bench/scale/run.sh.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/conformance/kubebin"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log); err != nil {
		log.Error("bench-scale failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	root, err := kubebin.RepoRoot()
	if err != nil {
		return fmt.Errorf("run it inside the edgeway checkout: %w", err)
	}
	info := runInfo{Started: time.Now(), Commit: commit(root), Machine: machine(), LoadBefore: loadavg()}
	cfg, err := loadConfig(filepath.Join(root, "bench", "results", "scale", info.Started.UTC().Format("20060102-150405")))
	if err != nil {
		return err
	}
	info.Cfg, info.Note = cfg, cfg.Note
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	e, err := setUp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer e.tearDown(log)
	info.ControllerPod, info.DataPod = e.controller.pod, e.dataplane.pod

	smp := newSampler(e.controller.pid, e.dataplane.pid)
	sctx, stopSampler := context.WithCancel(ctx)
	go smp.run(sctx)

	var sizes []*sizeResult
	var churn *churnResult
	runErr := func() error {
		p := newProber(e.gatewayAddr, 80)
		defer p.close()
		present := 0
		for _, n := range cfg.Sizes {
			s, err := measureSize(ctx, e, p, smp, cfg, present, n, log)
			if s != nil {
				sizes = append(sizes, s)
			}
			if err != nil {
				return err
			}
			present = n
		}
		if cfg.Churn == 0 {
			return nil
		}
		smp.setPhase("churn", present)
		log.Info("churn under load", "routes", present, "for", cfg.Churn)
		var stable []string
		for i := 0; i < present; i += max(1, present/stableSample) {
			stable = append(stable, routeName(prefixScale, i))
		}
		ctrlBefore, errC := scrape(ctx, e.controller.ip, controllerAdminPort, metricTranslationCount)
		dpBefore, errD := scrape(ctx, e.dataplane.ip, dataplaneAdminPort, metricConfigSwaps)
		var err error
		churn, err = runChurn(ctx, e.client, e, stable, cfg.ChurnConns, cfg.ChurnWrites, cfg.Churn)
		if churn != nil {
			churn.Routes = present
			churn.Translations, churn.ConfigSwaps = -1, -1
			if ctrlAfter, err := scrape(ctx, e.controller.ip, controllerAdminPort, metricTranslationCount); err == nil && errC == nil {
				churn.Translations = int(ctrlAfter[metricTranslationCount] - ctrlBefore[metricTranslationCount])
			}
			if dpAfter, err := scrape(ctx, e.dataplane.ip, dataplaneAdminPort, metricConfigSwaps); err == nil && errD == nil {
				churn.ConfigSwaps = int(dpAfter[metricConfigSwaps] - dpBefore[metricConfigSwaps])
			}
			log.Info("churn done", "errors", churn.Errors(), "requests", churn.StableOK+churn.ChurningOK+churn.Errors())
		}
		return err
	}()
	stopSampler()
	if runErr != nil {
		info.Errors = append(info.Errors, runErr.Error())
	}
	info.Errors = append(info.Errors, smp.errors()...)
	info.Ended, info.LoadAfter = time.Now(), loadavg()
	if err := writeResults(cfg.Out, info, sizes, churn, smp); err != nil {
		return errors.Join(runErr, err)
	}
	log.Info("results written", "dir", cfg.Out)
	return runErr
}

// writeResults writes the raw data and the summary into dir.
func writeResults(dir string, info runInfo, sizes []*sizeResult, churn *churnResult, smp *sampler) error {
	var changes []change
	for _, s := range sizes {
		changes = append(changes, s.Changes...)
	}
	files := []struct {
		name  string
		write func(*os.File) error
	}{
		{"propagation.csv", func(f *os.File) error { return writeChangesCSV(f, changes) }},
		{"sizes.csv", func(f *os.File) error { return writeSizesCSV(f, sizes) }},
		{"resources.csv", func(f *os.File) error { return smp.writeCSV(f) }},
		{"summary.md", func(f *os.File) error { writeSummary(f, info, sizes, churn); return nil }},
	}
	if churn != nil {
		files = append(files, struct {
			name  string
			write func(*os.File) error
		}{"churn_errors.csv", func(f *os.File) error { return writeChurnErrorsCSV(f, churn.Records) }})
	}
	var errs []error
	for _, file := range files {
		f, err := os.Create(filepath.Join(dir, file.name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, file.write(f), f.Close())
	}
	return errors.Join(errs...)
}

func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// machine is the CPU model and count, and the memory.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if k, v, ok := strings.Cut(strings.SplitN(string(b), "\n", 2)[0], ":"); ok && k == "MemTotal" {
			if n, err := parseKB(v); err == nil {
				mem = fmt.Sprintf(", %.0f GiB", float64(n)/(1<<30))
			}
		}
	}
	return fmt.Sprintf("%d × %s%s", runtime.NumCPU(), model, mem)
}
