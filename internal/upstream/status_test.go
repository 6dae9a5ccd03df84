package upstream

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

func TestBackingOff(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	next := metav1.NewTime(now.Add(30 * time.Second))
	past := metav1.NewTime(now.Add(-time.Second))
	for name, c := range map[string]struct {
		rs   *mcpv1alpha1.RefreshStatus
		want bool
	}{
		// A scheduled refresh is no backoff: only failed attempts make the gateway wait.
		"no failures":     {rs: &mcpv1alpha1.RefreshStatus{NextRefreshTime: &next}},
		"waiting":         {rs: &mcpv1alpha1.RefreshStatus{FailedAttempts: 1, NextRefreshTime: &next}, want: true},
		"wait is over":    {rs: &mcpv1alpha1.RefreshStatus{FailedAttempts: 1, NextRefreshTime: &past}},
		"no refresh info": {},
	} {
		us := &mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Refresh: c.rs}}
		if wait, got := BackingOff(us, now); got != c.want || (got && wait != 30*time.Second) {
			t.Errorf("%s: BackingOff = %s %v, want %v", name, wait, got, c.want)
		}
	}
}

func TestTokenUsableAndExpired(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		rec             *tokenstore.Record
		usable, expired bool
	}{
		"no record":       {},
		"no access token": {rec: &tokenstore.Record{RefreshToken: "r"}},
		// A token without a known expiry is used until the upstream rejects it.
		"unknown expiry": {rec: &tokenstore.Record{AccessToken: "a"}, usable: true},
		"valid":          {rec: &tokenstore.Record{AccessToken: "a", Expiry: now.Add(time.Second)}, usable: true},
		"expires now":    {rec: &tokenstore.Record{AccessToken: "a", Expiry: now}, expired: true},
		"expired":        {rec: &tokenstore.Record{AccessToken: "a", Expiry: now.Add(-time.Second)}, expired: true},
	} {
		if got := TokenUsable(c.rec, now); got != c.usable {
			t.Errorf("%s: TokenUsable = %t, want %t", name, got, c.usable)
		}
		if got := TokenExpired(c.rec, now); got != c.expired {
			t.Errorf("%s: TokenExpired = %t, want %t", name, got, c.expired)
		}
	}
}

func TestRefreshBlocked(t *testing.T) {
	cond := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: mcpv1alpha1.ConditionAuthorizationRequired, Status: status, Reason: reason}}
	}
	for name, c := range map[string]struct {
		conds []metav1.Condition
		want  bool
	}{
		"rejected refresh token": {cond(metav1.ConditionTrue, mcpv1alpha1.ReasonRefreshTokenRejected), true},
		"no token yet":           {cond(metav1.ConditionTrue, mcpv1alpha1.ReasonNoToken), false},
		"login no longer needed": {cond(metav1.ConditionFalse, mcpv1alpha1.ReasonRefreshTokenRejected), false},
		"no condition":           {nil, false},
	} {
		us := &mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Conditions: c.conds}}
		if got := RefreshBlocked(us); got != c.want {
			t.Errorf("%s: RefreshBlocked = %t, want %t", name, got, c.want)
		}
	}
}
