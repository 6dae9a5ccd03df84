package lifecycle

import (
	"net/http"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Every secret a pass holds is hidden from logs and status, whatever way it arrived: a token
// loaded from the store (after a restart nothing else has seen it), a hand-over, a static
// header; and a token the pass replaced is forgotten.
func TestPassRegistersEverySecretItHoldsAndForgetsReplacedOnes(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	store := openStore(t)
	loaded := &tokenstore.Record{AccessToken: "loaded-access-7f3a9", RefreshToken: "loaded-refresh-7f3a9",
		Expiry: clk.Now().Add(time.Hour), ObtainedAt: clk.Now()}
	if _, err := store.Store.Save(testKey, loaded, 0); err != nil {
		t.Fatal(err)
	}
	rec, _ := store.Load(testKey)
	handedOver := &tokenstore.Record{AccessToken: "handover-access-c41d2", RefreshToken: "handover-refresh-c41d2"}
	f := &Facts{Now: clk.Now(), Key: testKey, Record: rec, PrevCurrent: true,
		HandOvers: []HandOver{{Name: "h", Err: errBadHandOver, Record: handedOver}},
		Config: Config{SessionKey: "ns/srv", JitterKey: "ns/srv", HealthInterval: time.Minute,
			Target: targetWithHeader("X-Api-Key", "static-header-9e8b7")}}
	for _, v := range []string{"loaded-access-7f3a9", "handover-access-c41d2", "static-header-9e8b7"} {
		if oauth.Redact(v) != v {
			t.Fatalf("%s is already registered: the test would prove nothing", v)
		}
	}
	r := &Runner{Store: store, OAuth: &rotatingAS{lifetime: time.Hour, now: clk.Now}, Sessions: noSessions{}, Now: clk.Now}
	r.Run(t.Context(), Pass{Facts: f, Owner: nopOwner{}})
	for _, v := range []string{"loaded-access-7f3a9", "loaded-refresh-7f3a9", "handover-access-c41d2", "handover-refresh-c41d2", "static-header-9e8b7"} {
		if got := oauth.Redact("upstream said: " + v); got != "upstream said: "+oauth.Redacted {
			t.Errorf("%s is not hidden: %q", v, got)
		}
	}

	// An hour later the token is due: the refresh replaces both values, which are forgotten.
	clk.Step(time.Hour)
	f.Now, f.HandOvers = clk.Now(), nil
	f.Record, _ = store.Load(testKey)
	res := r.Run(t.Context(), Pass{Facts: f, Owner: nopOwner{}})
	if res.Outcomes[0].Step.Kind != StepRefresh || res.Outcomes[0].Record == nil {
		t.Fatalf("second pass = %v, want a successful refresh first", kinds(res.Outcomes))
	}
	for _, v := range []string{"loaded-access-7f3a9", "loaded-refresh-7f3a9"} {
		if got := oauth.Redact(v); got != v {
			t.Errorf("the replaced value %s is still remembered", v)
		}
	}
}

var errBadHandOver = errString("not owned by this server")

type errString string

func (e errString) Error() string { return string(e) }

func targetWithHeader(name, value string) mcpconn.Target {
	return mcpconn.Target{Headers: http.Header{name: {value}}}
}
