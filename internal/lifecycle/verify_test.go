package lifecycle

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A hand-over that names the attacker's token endpoint (for a server whose spec pins no
// issuer) is rejected: the stored token is kept, and the attacker's endpoint never receives
// the refresh token or a client secret. A hand-over naming the real endpoints is ingested.
func TestHandOverWithForeignEndpointsIsRejected(t *testing.T) {
	as := oauthserver.New(oauthserver.Options{})
	if err := as.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = as.Close() })
	var hits atomic.Int32
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(attacker.Close)

	clk := clocktesting.NewFakeClock(time.Now())
	store := openStore(t)
	r := &Runner{Store: store, OAuth: realDiscovery{&rotatingAS{}}, Sessions: noSessions{}, Now: clk.Now}
	forged := &tokenstore.Record{AccessToken: "forged-at", RefreshToken: "forged-rt", Issuer: as.Issuer(),
		TokenEndpoint: attacker.URL + "/token", Expiry: clk.Now().Add(-time.Second)}
	genuine := &tokenstore.Record{AccessToken: "real-at", RefreshToken: "real-rt", Issuer: as.Issuer(),
		TokenEndpoint: as.Issuer() + "/token", Expiry: clk.Now().Add(time.Hour)}
	for name, c := range map[string]struct {
		rec    *tokenstore.Record
		ingest bool
	}{"attacker's token endpoint": {forged, false}, "the server's own endpoints": {genuine, true}} {
		t.Run(name, func(t *testing.T) {
			f := &Facts{Now: clk.Now(), Key: testKey, Config: Config{SessionKey: "ns/srv", HealthInterval: time.Minute,
				OAuth: oauth.Config{ServerURL: as.MCPURL()}}, HandOvers: []HandOver{{Name: "h", Record: c.rec}}}
			f.Record, _ = store.Load(testKey)
			res := r.Run(context.Background(), Pass{Facts: f, Owner: nopOwner{}, Log: logr.Discard()})
			ingested := res.Outcomes[0].Step.Kind == StepIngestHandOver && res.Outcomes[0].Err == nil
			if ingested != c.ingest {
				t.Fatalf("ingested = %t, want %t (outcome %+v)", ingested, c.ingest, res.Outcomes[0])
			}
		})
	}
	if rec, _ := store.Load(testKey); rec == nil || rec.AccessToken != "real-at" {
		t.Fatalf("stored = %+v, want the genuine login", rec)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the attacker's endpoint received %d requests", n)
	}
}
