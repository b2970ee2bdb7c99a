package upstream

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// KnownFailuresFile lists, one per line, the suite tests edgeway does not
// pass yet, each with its reason after a '#'. They are passed to the suite
// as -skip-tests, so they appear as skipped in the report (never as passed);
// every other test must pass, so a regression fails the run. The README's
// conformance section mirrors this file.
const KnownFailuresFile = "known-failures.txt"

type knownFailure struct {
	Test, Reason string
	Line         int
}

// readKnownFailures parses the file: `TestShortName # reason`; blank lines
// and lines starting with '#' are ignored; a test without a reason is an
// error (a skip must say why).
func readKnownFailures(path string) ([]knownFailure, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var out []knownFailure
	seen := map[string]int{}
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, "#")
		name, reason = strings.TrimSpace(name), strings.TrimSpace(reason)
		if strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: one test short name per line, then '# reason'", path, n, name)
		}
		if reason == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason: add '# why it fails' after the name", path, n, name)
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is already listed on line %d", path, n, name, prev)
		}
		seen[name] = n
		out = append(out, knownFailure{Test: name, Reason: reason, Line: n})
	}
	return out, s.Err()
}
