package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Metrics read from the admin endpoints' /metrics (Prometheus text
// format), to explain the numbers: how long the controller's translations
// take, how many configurations the data plane swapped, and how much of
// each process's memory is Go heap.
const (
	metricTranslationSum   = "edgeway_controller_translation_duration_seconds_sum"
	metricTranslationCount = "edgeway_controller_translation_duration_seconds_count"
	metricConfigSwaps      = "edgeway_proxy_config_swaps_total"
	metricConfigRejections = "edgeway_proxy_config_rejections_total"
	metricHeapInuse        = "go_memstats_heap_inuse_bytes"
)

// metricsClient asks for uncompressed text: the propagation samples read
// the controller's metrics twice each, and gzip made the scrapes about a
// tenth of its CPU during the samples (perf).
var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// scrape returns the samples of the wanted metrics at addr:port/metrics,
// each summed over its label sets.
func scrape(ctx context.Context, addr netip.Addr, port int, wanted ...string) (map[string]float64, error) {
	url := "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body, wanted)
}

func parseMetrics(r io.Reader, wanted []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, w := range wanted {
		want[w] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// name{labels} value [timestamp]; label values may hold spaces,
		// so the name ends at '{' or the first space.
		// A wanted name with labels (`name{phase="build"}`, exactly as
		// served) matches that series only.
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		key := line[:end]
		rest := line[end:]
		if rest[0] == '{' {
			close := strings.LastIndexByte(rest, '}')
			if close < 0 {
				continue
			}
			if series := line[:end+close+1]; want[series] {
				key = series
			}
			rest = rest[close+1:]
		}
		if !want[key] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[key] += v
	}
	return out, sc.Err()
}
