package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

var (
	refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_token_refreshes_total",
		Help: "Token refreshes by result (success, rejected, transient_error, error, save_failed).",
	}, []string{"result"})
	refreshDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mcpproxy_token_refresh_duration_seconds",
		Help:    "Time spent calling the token endpoint for a refresh.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	tokenExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mcpproxy_token_expires_in_seconds",
		Help: "Seconds until each server's access token expires (negative once expired).",
	}, []string{"namespace", "name"})
	needsAuthorization = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mcpproxy_server_authorization_required",
		Help: "1 when a server needs a person to log in, else 0.",
	}, []string{"namespace", "name"})
	connected = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mcpproxy_server_connected",
		Help: "1 when the controller holds a live MCP session to the server, else 0.",
	}, []string{"namespace", "name"})
	statusPatches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcpproxy_status_patches_total",
		Help: "Status patches written (only changed statuses are written).",
	})
)

func init() {
	metrics.Registry.MustRegister(refreshes, refreshDuration, tokenExpiry, needsAuthorization, connected, statusPatches)
}

// observeMetrics counts the pass's refreshes and updates the per-server gauges.
func (r *UpstreamServerReconciler) observeMetrics(us *mcpv1alpha1.UpstreamServer, res lifecycle.Result) {
	countRefreshes(res)
	if rec := res.Record; rec != nil && !rec.Expiry.IsZero() {
		tokenExpiry.WithLabelValues(us.Namespace, us.Name).Set(rec.Expiry.Sub(r.Clock.Now()).Round(time.Second).Seconds())
	} else {
		tokenExpiry.DeleteLabelValues(us.Namespace, us.Name)
	}
	needsAuthorization.WithLabelValues(us.Namespace, us.Name).Set(boolGauge(upstream.IsTrue(us, mcpv1alpha1.ConditionAuthorizationRequired)))
	connected.WithLabelValues(us.Namespace, us.Name).Set(boolGauge(upstream.IsTrue(us, mcpv1alpha1.ConditionConnected)))
}

// countRefreshes counts a pass's refreshes, a server's or a credential's (credentials have no
// gauges of their own: ten thousand of them would be as many series).
func countRefreshes(res lifecycle.Result) {
	for _, o := range res.Outcomes {
		if o.Step.Kind == lifecycle.StepRefresh {
			refreshDuration.Observe(o.Duration.Seconds())
			refreshes.WithLabelValues(refreshResult(o)).Inc()
		}
	}
}

func refreshResult(o lifecycle.Outcome) string {
	switch {
	case o.Err != nil && o.Permanent:
		return "rejected"
	case o.Err != nil && oauth.IsTransient(o.Err):
		return "transient_error"
	case o.Err != nil:
		return "error"
	case o.StoreErr != nil:
		return "save_failed"
	}
	return "success"
}

func forgetMetrics(us *mcpv1alpha1.UpstreamServer) {
	tokenExpiry.DeleteLabelValues(us.Namespace, us.Name)
	needsAuthorization.DeleteLabelValues(us.Namespace, us.Name)
	connected.DeleteLabelValues(us.Namespace, us.Name)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
