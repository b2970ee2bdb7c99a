package kubebin

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// rootModule is the go.mod line that identifies the repository root.
const rootModule = "module github.com/edgeway/edgeway"

// RepoRoot returns the edgeway repository root: the nearest directory at or
// above the working directory whose go.mod declares the edgeway module. Tests
// run in their package directory, so this finds the checkout under test.
func RepoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && slices.Contains(strings.Split(string(b), "\n"), rootModule) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("kubebin: no edgeway repository (go.mod of github.com/edgeway/edgeway) at or above the working directory")
		}
		d = parent
	}
}
