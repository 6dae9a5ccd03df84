package lifecycle

import (
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

func seed(t *testing.T, s *failingStore, now time.Time, expiry time.Time) uint64 {
	t.Helper()
	rev, err := s.Store.Save(testKey, &tokenstore.Record{AccessToken: "at-0", RefreshToken: "rt-0",
		Expiry: expiry, ObtainedAt: now.Add(-time.Hour), TokenEndpoint: "https://as.example/token"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// A refreshed token whose save fails is the only copy of the rotated refresh token: it is kept
// in memory, and the next pass saves it before doing anything else, and never spends the old one.
func TestFailedSaveKeepsTheRotatedTokenAndSavesItFirst(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	store := openStore(t)
	seed(t, store, clk.Now(), clk.Now().Add(-time.Second)) // expired: due now
	as := &rotatingAS{lifetime: time.Hour, now: clk.Now}
	r := &Runner{Store: store, OAuth: as, Sessions: noSessions{}, Now: clk.Now}

	store.failNext = 1
	first := pass(t, r, clk, Status{})
	if got := kinds(first.Outcomes); !slices.Equal(got, []StepKind{StepRefresh}) {
		t.Fatalf("first pass steps = %v, want [Refresh] (no connect with an unsaved token)", got)
	}
	if c := first.Status.Authenticated; c == nil || c.Reason != ReasonTokenStoreError {
		t.Fatalf("Authenticated = %+v, want TokenStoreError", c)
	}
	if u := r.Unsaved(testKey); u == nil || u.Record.RefreshToken != "rt-1" {
		t.Fatalf("the rotated token was not kept in memory: %+v", u)
	}
	if first.WakeAt.IsZero() || first.WakeAt.After(clk.Now().Add(configRetry)) {
		t.Fatalf("wake at %s, want within %s", first.WakeAt, configRetry)
	}

	clk.Step(time.Minute)
	second := pass(t, r, clk, first.Status)
	if got := kinds(second.Outcomes); len(got) == 0 || got[0] != StepSaveUnsaved {
		t.Fatalf("second pass steps = %v, want SaveUnsaved first", got)
	}
	rec, err := store.Load(testKey)
	if err != nil || rec.RefreshToken != "rt-1" || rec.AccessToken != "at-1" {
		t.Fatalf("stored record = %+v, %v; want the rotated token rt-1", rec, err)
	}
	if r.Unsaved(testKey) != nil {
		t.Fatal("the unsaved token is still held after it was saved")
	}
	if as.n != 1 || !slices.Equal(as.spent, []string{"rt-0"}) {
		t.Fatalf("refresh tokens spent = %v, want only rt-0 once", as.spent)
	}
	if c := second.Status.Authenticated; c == nil || c.Status != True {
		t.Fatalf("Authenticated after the save = %+v, want True", c)
	}
}

// A save that loses the compare-and-swap (a login landed meanwhile) reloads the newer record
// and never overwrites it, neither now nor on a later pass.
func TestConflictReloadsAndNeverOverwritesANewerRevision(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	store := openStore(t)
	rev := seed(t, store, clk.Now(), clk.Now().Add(-time.Second))
	as := &rotatingAS{lifetime: time.Hour, now: clk.Now}
	r := &Runner{Store: store, OAuth: as, Sessions: noSessions{}, Now: clk.Now}

	// A login lands while the refresh is in flight: observe saw rev, the store now holds rev+1.
	login := &tokenstore.Record{AccessToken: "at-login", RefreshToken: "rt-login", Expiry: clk.Now().Add(time.Hour), ObtainedAt: clk.Now()}
	f := &Facts{Now: clk.Now(), Key: testKey, PrevCurrent: true, Config: Config{SessionKey: "ns/srv", JitterKey: "ns/srv", HealthInterval: time.Minute}}
	f.Record, _ = store.Load(testKey)
	if _, err := store.Store.Save(testKey, login, rev); err != nil {
		t.Fatal(err)
	}
	res := r.Run(t.Context(), Pass{Facts: f, Owner: nopOwner{}})
	x := res.Outcomes[0]
	if x.Step.Kind != StepRefresh || !x.Conflict || x.Record == nil || x.Record.AccessToken != "at-login" {
		t.Fatalf("refresh outcome = %+v, want a conflict that reloaded the login", x)
	}
	if res.Record == nil || res.Record.AccessToken != "at-login" {
		t.Fatalf("the pass ended holding %+v, want the login", res.Record)
	}
	if r.Unsaved(testKey) != nil {
		t.Fatal("a token that lost the compare-and-swap was kept to be saved later")
	}
	clk.Step(time.Minute)
	pass(t, r, clk, res.Status)
	if rec, _ := store.Load(testKey); rec.AccessToken != "at-login" {
		t.Fatalf("stored token = %s, want the login at-login to survive", rec.AccessToken)
	}
}
