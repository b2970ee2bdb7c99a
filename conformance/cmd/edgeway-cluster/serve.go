package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/conformance/cluster"
)

// readyFD is the pipe up gives serve: serve writes readyLine there once the
// cluster is ready, and closes it. EOF without it means serve failed.
const (
	readyFD   = 3
	readyLine = "ready\n"
)

// serve runs the cluster in the foreground until SIGTERM or SIGINT, then
// stops it. up starts it detached, with its output in the cluster's log.
func serve(o options) error {
	// The pipe must not leak into the cluster's processes: a child holding
	// it would keep up waiting after serve died.
	syscall.CloseOnExec(readyFD)
	ready := os.NewFile(readyFD, "ready")
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := cluster.Start(ctx, cluster.Config{ID: o.id, StateRoot: o.stateRoot, Dir: o.dir, Log: log})
	if err != nil {
		return err
	}
	if ready != nil {
		_, _ = ready.WriteString(readyLine)
		ready.Close()
	}
	<-ctx.Done()
	log.Info("signal received: stopping the cluster")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = c.Stop(sctx)
	os.Remove(o.servePidFile())
	if err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return nil
}
