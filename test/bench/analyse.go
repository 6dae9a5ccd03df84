package bench

import (
	"math"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// Dist is a distribution summary in milliseconds.
type Dist struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
	return Dist{Count: len(s), P50: ms(quantile(s, 0.50)), P99: ms(quantile(s, 0.99)), Max: ms(s[len(s)-1])}
}

// quantile is the nearest-rank quantile of sorted s.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// tokenLife is one access token of a holder (a server or a credential): when the controller would plan its refresh and
// when it expires.
type tokenLife struct {
	planned, expiry time.Time
}

// steadyFigures are the refresh timing figures of a window.
type steadyFigures struct {
	due, beforeExpiry int
	lateness          []time.Duration
}

// analyseRefreshes walks each holder's token chain (seed token, then every refresh seen at the
// token endpoint) and judges the tokens whose refresh was due in [from, to): refreshed before it
// expired or not, and how late against the controller's own plan. A token already refreshed
// before the window (a refresh someone asked for, as the burst does) was not due in it.
func analyseRefreshes(seeds []seeded, events map[string][]refreshEvent, from, to time.Time) steadyFigures {
	var f steadyFigures
	for _, s := range seeds {
		key := s.jitterKey
		cur := tokenLife{planned: lifecycle.RefreshTime(s.issued, s.expiry, nil, key), expiry: s.expiry}
		evs := events[s.holder]
		for k := 0; ; k++ {
			var next *refreshEvent
			if k < len(evs) {
				next = &evs[k]
			}
			if !cur.planned.Before(to) {
				break
			}
			if !cur.planned.Before(from) && (next == nil || !next.Arrived.Before(from)) {
				f.due++
				switch {
				case next != nil && next.Arrived.Before(to):
					f.lateness = append(f.lateness, next.Arrived.Sub(cur.planned))
					if next.Answered.Before(cur.expiry) {
						f.beforeExpiry++
					}
				default:
					// Due in the window, not refreshed by its end: censored lateness.
					f.lateness = append(f.lateness, to.Sub(cur.planned))
					if to.Before(cur.expiry) {
						f.due-- // not yet expired either: undecided, leave it out
						f.lateness = f.lateness[:len(f.lateness)-1]
					}
				}
			}
			if next == nil {
				break
			}
			expiry := next.Answered.Add(next.ExpiresIn)
			cur = tokenLife{planned: lifecycle.RefreshTime(next.Arrived, expiry, nil, key), expiry: expiry}
		}
	}
	return f
}

// dueBy counts the refreshes due by t for tokens current at t0 or issued after it: a token
// refreshed early in a long window is due again within it.
func dueBy(seeds []seeded, events map[string][]refreshEvent, t0, t time.Time) int {
	n := 0
	for _, s := range seeds {
		key := s.jitterKey
		planned := lifecycle.RefreshTime(s.issued, s.expiry, nil, key)
		for _, e := range events[s.holder] {
			if !e.Arrived.Before(t) {
				break
			}
			if !e.Arrived.Before(t0) && !planned.After(t) {
				n++ // the token this refresh replaced was due in the window
			}
			planned = lifecycle.RefreshTime(e.Arrived, e.Answered.Add(e.ExpiresIn), nil, key)
		}
		if !planned.After(t) {
			n++
		}
	}
	return n
}

// latestExpiry is the latest expiry of the holders' current tokens.
func latestExpiry(seeds []seeded, events map[string][]refreshEvent) time.Time {
	var latest time.Time
	for _, s := range seeds {
		exp := s.expiry
		if evs := events[s.holder]; len(evs) > 0 {
			e := evs[len(evs)-1]
			exp = e.Answered.Add(e.ExpiresIn)
		}
		if exp.After(latest) {
			latest = exp
		}
	}
	return latest
}
