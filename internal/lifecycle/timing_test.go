package lifecycle

import (
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The old decision's vocabulary, kept as a test adapter over decide so its table reads as before.
type TokenFacts struct {
	Present, HasRefreshToken bool
	Expiry, IssuedAt         time.Time
}

type PlanInput struct {
	Now                                               time.Time
	Token                                             TokenFacts
	RefreshBefore                                     *time.Duration
	FailedAttempts                                    int32
	NextRetry                                         time.Time
	RefreshBlocked, ForceRefresh, SessionUnauthorized bool
	JitterKey                                         string
}

type Action = string

const (
	ActionDiscover   Action = "Discover"
	ActionAwaitLogin Action = "AwaitLogin"
	ActionRefresh    Action = "Refresh"
	ActionConnect    Action = "Connect"
	ActionBackoff    Action = "Backoff"
)

type planResult struct {
	Action               Action
	RefreshAt, ExpiresAt time.Time
}

func oldPlan(in PlanInput) planResult {
	if !in.Token.Present {
		return planResult{Action: ActionDiscover}
	}
	rec := &tokenstore.Record{AccessToken: "a", Expiry: in.Token.Expiry, ObtainedAt: in.Token.IssuedAt}
	if in.Token.HasRefreshToken {
		rec.RefreshToken = "r"
	}
	f := &Facts{Now: in.Now, Config: Config{RefreshBefore: in.RefreshBefore, JitterKey: in.JitterKey}}
	mem := &RefreshMemory{FailedAttempts: in.FailedAttempts, NextRefreshTime: in.NextRetry}
	d := decide(f, rec, mem, in.RefreshBlocked, in.ForceRefresh, in.SessionUnauthorized)
	return planResult{Action: string(d.action), RefreshAt: d.refreshAt, ExpiresAt: d.expiresAt}
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// TestDecide pins the token rule with the table the controller had before the lifecycle
// existed: the same inputs, the same decisions.
func TestDecide(t *testing.T) {
	hour := time.Hour
	valid := TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0.Add(-10 * time.Minute), Expiry: t0.Add(50 * time.Minute)}
	due := TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0.Add(-58 * time.Minute), Expiry: t0.Add(2 * time.Minute)}
	expired := TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0.Add(-2 * time.Hour), Expiry: t0.Add(-time.Hour)}
	noRefresh := valid
	noRefresh.HasRefreshToken = false
	expiredNoRefresh := expired
	expiredNoRefresh.HasRefreshToken = false
	unknownExpiry := TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0.Add(-time.Hour)}

	cases := map[string]struct {
		in   PlanInput
		want Action
	}{
		"no token: discover":                      {PlanInput{}, ActionDiscover},
		"valid token: connect":                    {PlanInput{Token: valid}, ActionConnect},
		"due: refresh":                            {PlanInput{Token: due}, ActionRefresh},
		"expired with refresh token: refresh":     {PlanInput{Token: expired}, ActionRefresh},
		"valid without refresh token: connect":    {PlanInput{Token: noRefresh}, ActionConnect},
		"expired without refresh token: login":    {PlanInput{Token: expiredNoRefresh}, ActionAwaitLogin},
		"401 without refresh token: login":        {PlanInput{Token: noRefresh, SessionUnauthorized: true}, ActionAwaitLogin},
		"401 before expiry: refresh":              {PlanInput{Token: valid, SessionUnauthorized: true}, ActionRefresh},
		"forced refresh of a valid token":         {PlanInput{Token: valid, ForceRefresh: true}, ActionRefresh},
		"forced refresh ignores backoff":          {PlanInput{Token: due, ForceRefresh: true, FailedAttempts: 3, NextRetry: t0.Add(hour)}, ActionRefresh},
		"due but backing off":                     {PlanInput{Token: due, FailedAttempts: 2, NextRetry: t0.Add(time.Second)}, ActionBackoff},
		"backoff window over: refresh":            {PlanInput{Token: due, FailedAttempts: 2, NextRetry: t0.Add(-time.Second)}, ActionRefresh},
		"backoff window ends exactly now":         {PlanInput{Token: due, FailedAttempts: 2, NextRetry: t0}, ActionRefresh},
		"rejected refresh token, still valid":     {PlanInput{Token: due, RefreshBlocked: true}, ActionConnect},
		"rejected refresh token, expired":         {PlanInput{Token: expired, RefreshBlocked: true}, ActionAwaitLogin},
		"rejected refresh token, forced":          {PlanInput{Token: expired, RefreshBlocked: true, ForceRefresh: true}, ActionRefresh},
		"unknown expiry is never refreshed early": {PlanInput{Token: unknownExpiry}, ActionConnect},
		"unknown expiry with a 401: refresh":      {PlanInput{Token: unknownExpiry, SessionUnauthorized: true}, ActionRefresh},
		"expiry exactly now counts as expired":    {PlanInput{Token: TokenFacts{Present: true, IssuedAt: t0.Add(-hour), Expiry: t0}}, ActionAwaitLogin},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.in.Now = t0
			tc.in.JitterKey = "ns/name"
			if got := oldPlan(tc.in); got.Action != tc.want {
				t.Fatalf("oldPlan() = %s, want %s", got.Action, tc.want)
			}
		})
	}
}

func TestDecideConnectCarriesTheRefreshTime(t *testing.T) {
	tok := TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0, Expiry: t0.Add(time.Hour)}
	got := oldPlan(PlanInput{Now: t0, Token: tok, JitterKey: "a/b"})
	want := RefreshTime(tok.IssuedAt, tok.Expiry, nil, "a/b")
	if got.Action != ActionConnect || !got.RefreshAt.Equal(want) {
		t.Fatalf("got %s at %s, want Connect at %s", got.Action, got.RefreshAt, want)
	}
	// The same inputs plan the same time: a repeated reconcile writes no new status.
	if again := oldPlan(PlanInput{Now: t0.Add(time.Minute), Token: tok, JitterKey: "a/b"}); !again.RefreshAt.Equal(got.RefreshAt) {
		t.Fatalf("planned time moved between reconciles: %s then %s", got.RefreshAt, again.RefreshAt)
	}
}

func TestRefreshTime(t *testing.T) {
	two := 2 * time.Minute
	zero := time.Duration(0)
	cases := map[string]struct {
		lifetime      time.Duration
		refreshBefore *time.Duration
		before        time.Duration // expected refreshBefore, jitter excluded
	}{
		"an hour: 5m cap":           {time.Hour, nil, 5 * time.Minute},
		"30s: a quarter":            {30 * time.Second, nil, 7500 * time.Millisecond},
		"2s: a quarter":             {2 * time.Second, nil, 500 * time.Millisecond},
		"20m: a quarter, under cap": {20 * time.Minute, nil, 5 * time.Minute},
		"spec override":             {time.Hour, &two, 2 * time.Minute},
		"spec zero: at expiry":      {time.Hour, &zero, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			expiry := t0.Add(tc.lifetime)
			for _, key := range []string{"a/a", "a/b", "default/demo", "x/y", "z/z"} {
				at := RefreshTime(t0, expiry, tc.refreshBefore, key)
				latest := expiry.Add(-tc.before)
				earliest := latest.Add(-tc.before / 10)
				if at.After(latest) || at.Before(earliest) {
					t.Fatalf("key %s: refresh at %s, want within [%s, %s]", key, at, earliest, latest)
				}
			}
		})
	}
	if !RefreshTime(t0, time.Time{}, nil, "k").IsZero() {
		t.Fatal("an unknown expiry must plan no refresh")
	}
}

func TestRefreshTimeJitterSpreadsServers(t *testing.T) {
	expiry := t0.Add(time.Hour)
	seen := map[time.Time]bool{}
	for i := 0; i < 100; i++ {
		seen[RefreshTime(t0, expiry, nil, "ns/server-"+string(rune('a'+i%26))+string(rune('a'+i/26)))] = true
	}
	if len(seen) < 90 {
		t.Fatalf("100 servers share only %d refresh times", len(seen))
	}
}

func TestBackoff(t *testing.T) {
	cases := map[string]struct {
		attempts   int32
		retryAfter time.Duration
		min, max   time.Duration
	}{
		"first failure: about 1s":      {1, 0, 800 * time.Millisecond, time.Second},
		"second: about 2s":             {2, 0, 1600 * time.Millisecond, 2 * time.Second},
		"fifth: about 16s":             {5, 0, 12800 * time.Millisecond, 16 * time.Second},
		"tenth: capped at 5m":          {10, 0, 4 * time.Minute, 5 * time.Minute},
		"hundredth: still capped":      {100, 0, 4 * time.Minute, 5 * time.Minute},
		"zero attempts counts as one":  {0, 0, 800 * time.Millisecond, time.Second},
		"Retry-After longer: honoured": {1, 30 * time.Second, 30 * time.Second, 30 * time.Second},
		"Retry-After shorter: ignored": {6, time.Second, 25600 * time.Millisecond, 32 * time.Second},
		"Retry-After capped at 1h":     {1, 48 * time.Hour, time.Hour, time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, key := range []string{"a/a", "b/b", "c/c", "default/demo"} {
				got := backoff(tc.attempts, tc.retryAfter, key)
				if got < tc.min || got > tc.max {
					t.Fatalf("backoff(%d, %s, %s) = %s, want within [%s, %s]", tc.attempts, tc.retryAfter, key, got, tc.min, tc.max)
				}
				if again := backoff(tc.attempts, tc.retryAfter, key); again != got {
					t.Fatalf("Backoff is not stable: %s then %s", got, again)
				}
			}
		})
	}
}

func TestDefaultRefreshBefore(t *testing.T) {
	cases := map[time.Duration]time.Duration{
		time.Hour: 5 * time.Minute, 8 * time.Minute: 2 * time.Minute, 0: 0, -time.Minute: 0,
	}
	for lifetime, want := range cases {
		if got := defaultRefreshBefore(lifetime); got != want {
			t.Errorf("defaultRefreshBefore(%s) = %s, want %s", lifetime, got, want)
		}
	}
}

func TestDecideWakesAtExpiryWhenNoRefreshIsPossible(t *testing.T) {
	expiry := t0.Add(time.Minute)
	for name, in := range map[string]PlanInput{
		"no refresh token":       {Token: TokenFacts{Present: true, IssuedAt: t0, Expiry: expiry}},
		"refresh token rejected": {Token: TokenFacts{Present: true, HasRefreshToken: true, IssuedAt: t0, Expiry: expiry}, RefreshBlocked: true},
	} {
		t.Run(name, func(t *testing.T) {
			in.Now = t0
			got := oldPlan(in)
			if got.Action != ActionConnect || !got.ExpiresAt.Equal(expiry) {
				t.Fatalf("got %+v, want Connect and a wake-up at expiry %s", got, expiry)
			}
		})
	}
}
