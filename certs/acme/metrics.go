package acme

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Order kinds (the kind label).
const (
	kindIssue = "issue"
	kindRenew = "renew"
)

type metrics struct {
	expiry   *prometheus.GaugeVec
	orders   *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeway_acme_certificate_expiry_timestamp_seconds",
			Help: "NotAfter (Unix seconds) of the ACME certificate in each certificate Secret.",
		}, []string{"namespace", "secret", "issuer"}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_acme_orders_total",
			Help: "ACME orders started, by certificate Secret and kind (issue: no usable certificate yet; renew: replacing a valid one).",
		}, []string{"namespace", "secret", "issuer", "kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_acme_order_failures_total",
			Help: "ACME orders that failed, by certificate Secret, kind and reason (the state Secret's reason).",
		}, []string{"namespace", "secret", "issuer", "kind", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.expiry, m.orders, m.failures)
	}
	return m
}

func (m *metrics) setExpiry(s types.NamespacedName, issuer string, notAfter time.Time) {
	m.expiry.WithLabelValues(s.Namespace, s.Name, issuer).Set(float64(notAfter.Unix()))
}

// forget drops the expiry of a certificate that is no longer wanted (or
// whose issuer changed); counters keep their history.
func (m *metrics) forget(s types.NamespacedName, issuer string) {
	m.expiry.DeleteLabelValues(s.Namespace, s.Name, issuer)
}

func (m *metrics) ordered(s types.NamespacedName, issuer, kind string) {
	m.orders.WithLabelValues(s.Namespace, s.Name, issuer, kind).Inc()
}

func (m *metrics) failed(s types.NamespacedName, issuer, kind, reason string) {
	m.failures.WithLabelValues(s.Namespace, s.Name, issuer, kind, reason).Inc()
}
