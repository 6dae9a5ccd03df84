package lifecycle

import (
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The next refresh of a token a gateway reported rejected is at the refresh floor when the
// report came right after a refresh, not at the next health check; a report of a revision no
// longer stored changes nothing.
func TestNextRefreshAfterARejectionWithinTheFloor(t *testing.T) {
	refreshed := t0.Add(-300 * time.Millisecond)
	floor := refreshed.Add(DefaultMinRefreshInterval)
	hour := time.Hour
	for name, c := range map[string]struct {
		rejected uint64
		lifetime time.Duration
		want     time.Time
	}{
		"the stored revision rejected": {rejected: 7, lifetime: hour, want: floor},
		"an older revision rejected":   {rejected: 6, lifetime: hour, want: RefreshTime(refreshed, refreshed.Add(hour), nil, "")},
		"no report":                    {lifetime: hour, want: RefreshTime(refreshed, refreshed.Add(hour), nil, "")},
		"due by its times, throttled":  {lifetime: 250 * time.Millisecond, want: floor},
	} {
		rec := &tokenstore.Record{AccessToken: "a", RefreshToken: "r", Revision: 7, RefreshedAt: refreshed, Expiry: refreshed.Add(c.lifetime)}
		f := &Facts{Now: t0, Record: rec, RejectedRevision: c.rejected}
		if got, _ := next(f, nil, nil); !got.Equal(c.want) {
			t.Errorf("%s: next refresh at %s, want %s", name, got, c.want)
		}
	}
}
