package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_requests_total",
		Help: "Gateway requests by server (namespace/name; empty when none was resolved), route (server, aggregate, tool_call) and status.",
	}, []string{"server", "route", "status"})
	upstreamLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcpproxy_gateway_upstream_duration_seconds",
		Help:    "Time from sending a request upstream to its response headers, by server.",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
	}, []string{"server"})
	addedLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mcpproxy_gateway_added_duration_seconds",
		Help:    "Time the gateway spent on a request before sending it upstream (authentication, authorization, token lookup).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	tokenRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_token_retries_total",
		Help: "Requests the upstream rejected with 401, by server and outcome (success, no_new_token, rejected_again, still_rejected, backing_off, not_retryable).",
	}, []string{"server", "result"})
	refreshRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_refresh_requests_total",
		Help: "Refreshes the gateway asked the controller for, by server.",
	}, []string{"server"})
	authCache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_auth_cache_total",
		Help: "Lookups of cached TokenReview (token) and SubjectAccessReview (access) answers, by result (hit, rejected_hit, miss).",
	}, []string{"kind", "result"})
	reviewsLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_token_reviews_limited_total",
		Help: "Unknown bearer tokens refused without a TokenReview by the review rate limit, by scope (client, total).",
	}, []string{"scope"})
	sessionsRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mcpproxy_gateway_sessions_refused_total",
		Help: "New aggregated /mcp sessions refused because the caller held Options.MaxSessionsPerIdentity already.",
	})
)

// The auth cache's series, resolved once: a lookup happens on every request.
var (
	tokenHits         = authCache.WithLabelValues("token", "hit")
	tokenRejectedHits = authCache.WithLabelValues("token", "rejected_hit")
	tokenMisses       = authCache.WithLabelValues("token", "miss")
	accessHits        = authCache.WithLabelValues("access", "hit")
	accessMisses      = authCache.WithLabelValues("access", "miss")
)

func init() {
	metrics.Registry.MustRegister(requests, upstreamLatency, addedLatency, tokenRetries, refreshRequests, authCache, reviewsLimited, sessionsRefused)
}

func statusLabel(code int) string { return strconv.Itoa(code) }
