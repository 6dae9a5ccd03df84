package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A hand-over kept by a foreign finalizer after the controller deleted it is never ingested
// again. The login-handover policy lets anyone with Secret update (built-in edit) add a
// finalizer to a pending hand-over; had each pass ingested it again, it would have put the
// handed-over tokens back over the refreshed ones, and the replayed refresh token would get the
// grant revoked. Bob (editor: verb login) logs in while the manager is down; alice (edit only)
// adds a finalizer to his pending hand-over.
func TestHandOverKeptByAFinalizerIsNeverIngestedTwice(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	testenv.InstallHandOverPolicy(t, ns)
	bindUsers(t, ns)
	us := createServer(t, ns, "linear", srv.MCPURL())

	p := browserlogin.HandOver(testenv.HeadlessLogin(t, srv, srv.MCPURL()), srv.MCPURL(), time.Now())
	body, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sec := mcpv1alpha1.NewHandOverSecret(get(t, us), body)
	sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: "bob"}
	if err := testenv.ClientAs(t, "bob").Create(ctx, sec); err != nil {
		t.Fatalf("bob's hand-over: %v", err)
	}
	if err := testenv.ClientAs(t, "alice").Patch(ctx, sec.DeepCopy(), rawMerge(`{"metadata":{"finalizers":["alice.example/keep"]}}`)); err != nil {
		t.Fatalf("the policy refused alice's finalizer on bob's hand-over: %v", err)
	}
	t.Cleanup(func() {
		_ = apiClient.Patch(context.Background(), sec.DeepCopy(), rawMerge(`{"metadata":{"finalizers":null}}`))
	})

	h := startHarness(t, ns, "")
	waitReady(t, us, 30*time.Second)
	key := upstream.StoreKey(get(t, us))
	stored := func() string {
		rec, err := h.Store.Load(key)
		if err != nil {
			return "error: " + err.Error()
		}
		return rec.RefreshToken
	}

	// One refresh rotates the refresh token.
	annotate(t, us, mcpv1alpha1.AnnotationRefreshRequestedAt, time.Now().Format(time.RFC3339Nano))
	testenv.Eventually(t, 20*time.Second, "a refresh that rotates the refresh token", func() bool {
		return srv.Stats().Refreshes >= 1 && stored() != p.RefreshToken && !strings.HasPrefix(stored(), "error")
	})
	rotated := stored()

	// A later pass (here: an unrelated annotation) leaves the refreshed token alone.
	mark := h.ReconcileMark(get(t, us))
	annotate(t, us, "test.example/poke", "1")
	h.WaitReconciled(t, get(t, us), mark, 20*time.Second)
	if got := stored(); got != rotated {
		t.Fatalf("the kept hand-over was ingested again: the stored refresh token went back from the rotated one")
	}
	if n := srv.Stats().RefreshReuseDetected; n != 0 {
		t.Fatalf("the authorization server saw %d replayed refresh tokens", n)
	}
	if !isReady(get(t, us)) {
		t.Fatalf("not Ready: %s", describe(get(t, us)))
	}
}
