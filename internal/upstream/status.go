package upstream

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// TokenUsable reports whether rec holds an access token that has not expired at now.
func TokenUsable(rec *tokenstore.Record, now time.Time) bool {
	return rec != nil && rec.AccessToken != "" && (rec.Expiry.IsZero() || now.Before(rec.Expiry))
}

// TokenExpired reports whether rec holds an access token whose known expiry has passed at now.
func TokenExpired(rec *tokenstore.Record, now time.Time) bool {
	return rec != nil && rec.AccessToken != "" && !rec.Expiry.IsZero() && !now.Before(rec.Expiry)
}

// BackingOff reports whether failed refreshes of us wait past now, and for how long.
func BackingOff(us *mcpv1alpha1.UpstreamServer, now time.Time) (time.Duration, bool) {
	rs := us.Status.Refresh
	if rs == nil || rs.FailedAttempts == 0 || rs.NextRefreshTime == nil || !now.Before(rs.NextRefreshTime.Time) {
		return 0, false
	}
	return rs.NextRefreshTime.Sub(now), true
}

// RefreshBlocked reports whether the authorization server rejected the refresh token: only a
// login or an explicit refresh request lifts it.
func RefreshBlocked(us *mcpv1alpha1.UpstreamServer) bool {
	return IsTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) &&
		ConditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired) == mcpv1alpha1.ReasonRefreshTokenRejected
}

// IsTrue reports whether condition typ of us is True.
func IsTrue(us *mcpv1alpha1.UpstreamServer, typ string) bool {
	return meta.IsStatusConditionTrue(us.Status.Conditions, typ)
}

// ConditionReason is the reason of condition typ of us, or "".
func ConditionReason(us *mcpv1alpha1.UpstreamServer, typ string) string {
	if c := meta.FindStatusCondition(us.Status.Conditions, typ); c != nil {
		return c.Reason
	}
	return ""
}
