package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// XDSStats is what the xDS client reports; the collector reads it at scrape
// time, so the client keeps its own counters and has no Prometheus
// dependency.
type XDSStats struct {
	Connected  bool
	Reconnects uint64
	// Accepted and NACKs count responses per type URL.
	Accepted map[string]uint64
	NACKs    map[string]uint64
}

var (
	xdsConnectedDesc = prometheus.NewDesc("edgeway_xds_connected",
		"1 while the ADS stream to the controller is open.", nil, nil)
	xdsReconnectsDesc = prometheus.NewDesc("edgeway_xds_reconnects_total",
		"ADS streams opened after the first one.", nil, nil)
	xdsAcceptedDesc = prometheus.NewDesc("edgeway_xds_updates_accepted_total",
		"xDS responses accepted (ACKed), by resource type.", []string{"type"}, nil)
	xdsNACKsDesc = prometheus.NewDesc("edgeway_xds_updates_rejected_total",
		"xDS responses rejected (NACKed; the previous configuration stays), by resource type.", []string{"type"}, nil)
)

type xdsCollector struct{ stats func() XDSStats }

// RegisterXDS exposes the xDS client's counters; stats is called on every
// scrape.
func (m *Metrics) RegisterXDS(stats func() XDSStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(xdsCollector{stats})
}

func (c xdsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- xdsConnectedDesc
	ch <- xdsReconnectsDesc
	ch <- xdsAcceptedDesc
	ch <- xdsNACKsDesc
}

func (c xdsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(xdsConnectedDesc, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(xdsReconnectsDesc, prometheus.CounterValue, float64(s.Reconnects))
	for typ, n := range s.Accepted {
		ch <- prometheus.MustNewConstMetric(xdsAcceptedDesc, prometheus.CounterValue, float64(n), TypeLabel(typ))
	}
	for typ, n := range s.NACKs {
		ch <- prometheus.MustNewConstMetric(xdsNACKsDesc, prometheus.CounterValue, float64(n), TypeLabel(typ))
	}
}

// TypeLabel shortens a type URL to its message name
// ("type.googleapis.com/envoy.config.listener.v3.Listener" -> "Listener").
func TypeLabel(typeURL string) string {
	return typeURL[strings.LastIndexByte(typeURL, '.')+1:]
}
