package bench

import (
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// TestAnalyseRefreshesJudgesTheTokensDueInTheWindow: a token due in the window is judged by its
// refresh (on time, late, after it expired) or by the window's end when none came; a token
// refreshed before the window (a requested refresh) and one not yet due are left out.
func TestAnalyseRefreshesJudgesTheTokensDueInTheWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	const ttl = 60 * time.Second
	seed := seeded{holder: "h", jitterKey: "default/s00000", issued: t0, expiry: t0.Add(ttl)}
	planned := lifecycle.RefreshTime(seed.issued, seed.expiry, nil, seed.jitterKey)
	at := func(d time.Duration) refreshEvent {
		return refreshEvent{Arrived: planned.Add(d), Answered: planned.Add(d + 10*time.Millisecond), ExpiresIn: ttl}
	}
	for name, tc := range map[string]struct {
		events            []refreshEvent
		from, to          time.Time
		due, beforeExpiry int
		lateness          time.Duration
	}{
		"refreshed on plan": {events: []refreshEvent{at(0)}, from: planned.Add(-time.Second), to: planned.Add(time.Second),
			due: 1, beforeExpiry: 1, lateness: 0},
		"refreshed late, before expiry": {events: []refreshEvent{at(2 * time.Second)}, from: planned.Add(-time.Second), to: planned.Add(5 * time.Second),
			due: 1, beforeExpiry: 1, lateness: 2 * time.Second},
		"refreshed after expiry": {events: []refreshEvent{{Arrived: seed.expiry.Add(time.Second), Answered: seed.expiry.Add(2 * time.Second), ExpiresIn: ttl}},
			from: planned, to: seed.expiry.Add(5 * time.Second), due: 1, lateness: seed.expiry.Add(time.Second).Sub(planned)},
		"not refreshed, expired: censored at the end": {from: planned, to: seed.expiry.Add(time.Second),
			due: 1, lateness: seed.expiry.Add(time.Second).Sub(planned)},
		"not refreshed, not yet expired: undecided": {from: planned, to: planned.Add(time.Second)},
		"refreshed on request before the window":    {events: []refreshEvent{at(-20 * time.Second)}, from: planned.Add(-time.Second), to: planned.Add(time.Second)},
		"not due in the window":                     {events: []refreshEvent{at(0)}, from: t0, to: planned.Add(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			f := analyseRefreshes([]seeded{seed}, map[string][]refreshEvent{"h": tc.events}, tc.from, tc.to)
			if f.due != tc.due || f.beforeExpiry != tc.beforeExpiry {
				t.Errorf("due %d, before expiry %d; want %d, %d", f.due, f.beforeExpiry, tc.due, tc.beforeExpiry)
			}
			if tc.due > 0 && (len(f.lateness) != 1 || f.lateness[0] != tc.lateness) {
				t.Errorf("lateness %v; want [%v]", f.lateness, tc.lateness)
			}
		})
	}
}
