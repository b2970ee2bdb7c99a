package upstream

import (
	"fmt"
	"sort"
	"strings"

	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
)

// Summarize turns a ConformanceReport into one line per profile:
//
//	GATEWAY-HTTP: core success 33/33 passed (0 failed, 0 skipped); extended success: 31 features claimed, 31/31 tests passed; not claimed: ...
func Summarize(r *confv1.ConformanceReport) []string {
	profiles := append([]confv1.ProfileReport(nil), r.ProfileReports...)
	sort.Slice(profiles, func(i, j int) bool { return profiles[i].Name < profiles[j].Name })
	var lines []string
	for _, p := range profiles {
		c := p.Core
		line := fmt.Sprintf("%s: core %s %d/%d passed (%d failed, %d skipped)",
			p.Name, c.Result, c.Statistics.Passed, total(c.Statistics), c.Statistics.Failed, c.Statistics.Skipped)
		if e := p.Extended; e != nil {
			line += fmt.Sprintf("; extended %s: %d features claimed, %d/%d tests passed (%d failed, %d skipped)",
				e.Result, len(e.SupportedFeatures), e.Statistics.Passed, total(e.Statistics), e.Statistics.Failed, e.Statistics.Skipped)
			if len(e.UnsupportedFeatures) > 0 {
				line += "; not claimed: " + strings.Join(e.UnsupportedFeatures, ", ")
			}
		}
		if failed := append(append([]string(nil), c.FailedTests...), extendedFailed(p)...); len(failed) > 0 {
			line += "; FAILED: " + strings.Join(failed, ", ")
		}
		lines = append(lines, line)
	}
	return lines
}

func total(s confv1.Statistics) uint32 { return s.Passed + s.Failed + s.Skipped }

func extendedFailed(p confv1.ProfileReport) []string {
	if p.Extended == nil {
		return nil
	}
	return p.Extended.FailedTests
}
