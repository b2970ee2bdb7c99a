// Package file is the standalone-mode source: a directory of YAML, watched for
// changes, loaded into a Snapshot. A load that fails in any file is refused as a
// whole and the last good Snapshot stays in force (Caddy-style transactional
// reload: build the new config fully, swap it in, keep the old on error).
package file

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// DefaultDebounce coalesces the burst of events an editor or `cp -r` makes.
const DefaultDebounce = 100 * time.Millisecond

// Source watches Dir and calls OnSnapshot with every good load.
type Source struct {
	Dir            string
	ControllerName string
	// ReservedPorts go into every Snapshot (Snapshot.ReservedPorts).
	ReservedPorts []snapshot.ReservedPort
	Debounce      time.Duration
	Log           *slog.Logger
	// OnSnapshot receives each successfully loaded Snapshot, in order, from one
	// goroutine. An error it returns is logged and recorded like a load error.
	OnSnapshot func(*snapshot.Snapshot) error

	mu      sync.Mutex
	state   State
	reloads chan struct{}
}

// State is what the source last did, for the admin endpoint.
type State struct {
	// Generation counts successful loads.
	Generation int64 `json:"generation" yaml:"generation"`
	// LastLoad is when the last load attempt finished.
	LastLoad time.Time `json:"lastLoad" yaml:"lastLoad"`
	// LastError is the last load's error, empty when the last load succeeded.
	// While set, the previous good configuration is still being served.
	LastError string `json:"lastError,omitempty" yaml:"lastError,omitempty"`
	// Files read by the last successful load.
	Files []string `json:"files,omitempty" yaml:"files,omitempty"`
}

// State returns a copy of the current state.
func (s *Source) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Files = append([]string(nil), s.state.Files...)
	return st
}

// Load loads the directory once and hands it to OnSnapshot.
func (s *Source) Load() error {
	files, err := snapshot.ConfigFiles(s.Dir)
	var snap *snapshot.Snapshot
	if err == nil {
		if len(files) == 0 {
			err = errors.New(s.Dir + ": no *.yaml, *.yml or *.json files found")
		} else {
			snap, err = snapshot.LoadFiles(files...)
		}
	}
	if err == nil {
		snap.ControllerName = s.ControllerName
		snap.ReservedPorts = s.ReservedPorts
		if s.ControllerName == "" {
			snap.ControllerName = snapshot.DefaultControllerName
		}
		err = s.OnSnapshot(snap)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.LastLoad = time.Now()
	if err != nil {
		s.state.LastError = err.Error()
		s.logger().Error("configuration refused; still serving the last good configuration", "dir", s.Dir, "error", err.Error())
		return err
	}
	s.state.Generation++
	s.state.LastError = ""
	s.state.Files = files
	s.logger().Info("configuration loaded", "dir", s.Dir, "files", len(files), "generation", s.state.Generation)
	return nil
}

// Reload asks the running watcher to load again (e.g. on SIGHUP).
func (s *Source) Reload() {
	select {
	case s.reloads <- struct{}{}:
	default:
	}
}

// Run loads once, then watches until ctx ends. The first load's error is
// returned (the caller decides whether to start without a config); later
// errors are only recorded and logged.
func (s *Source) Run(ctx context.Context, ready func(firstErr error)) error {
	s.mu.Lock()
	if s.reloads == nil {
		s.reloads = make(chan struct{}, 1)
	}
	s.mu.Unlock()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := s.watchTree(w); err != nil {
		return err
	}
	firstErr := s.Load()
	if ready != nil {
		ready(firstErr)
	}
	debounce := s.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !hidden(ev.Name) {
					_ = s.watchTree(w) // new subdirectory: watch it too
				}
			}
			if relevant(ev.Name) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.logger().Warn("watching config directory", "dir", s.Dir, "error", err)
		case <-s.reloads:
			timer.Reset(0)
		case <-timer.C:
			_ = s.Load()
		}
	}
}

func (s *Source) watchTree(w *fsnotify.Watcher) error {
	return filepath.WalkDir(s.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != s.Dir && hidden(path) {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
}

func (s *Source) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func hidden(path string) bool { return strings.HasPrefix(filepath.Base(path), ".") }

// relevant filters editor swap files and other noise; the load itself decides
// what is configuration.
func relevant(path string) bool {
	if hidden(path) {
		return false
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
