package controllers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Deleting alice's credential revokes her grant at the authorization server and deletes her
// record; bob's token is untouched, and still refreshes.
func TestDeletingACredentialRevokesOnlyItsToken(t *testing.T) {
	p := startPerSubjectPair(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	before := p.srv.Stats().Revocations
	if err := apiClient.Delete(context.Background(), p.alice); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "alice's credential deleted", func() bool { return gone(t, p.alice) })
	if _, _, err := p.record(t, p.alice); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("alice's token is still stored: %v", err)
	}
	if got := p.srv.Stats().Revocations; got != before+1 {
		t.Fatalf("%d revocations for one deleted credential", got-before)
	}
	if _, _, err := p.record(t, p.bob); err != nil {
		t.Fatalf("bob's token is gone with alice's: %v", err)
	}
	annotateCred(t, p.bob, mcpv1alpha1.AnnotationRefreshRequestedAt, "after-alice")
	testenv.Eventually(t, 20*time.Second, "bob refreshed on request", func() bool {
		c := getCredential(t, p.bob)
		return c.Status.LastHandledRefreshRequest == "after-alice" && credVerified(c)
	})
	if n := p.srv.Stats().Users["bob"].Refreshes; n != 1 {
		t.Fatalf("bob's grant does not refresh after alice's deletion: %d refreshes", n)
	}
	waitCounts(t, p.us, "1/1/0/0", 20*time.Second)
}

// Deleting a PerSubject server deletes its credentials first, so each revokes its own token
// while the server's binding still finds it (garbage collection would come after the server).
func TestDeletingAServerDeletesItsCredentialsAndRevokesTheirTokens(t *testing.T) {
	p := startPerSubjectPair(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	before := p.srv.Stats().Revocations
	us := get(t, p.us)
	if err := apiClient.Delete(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mcpv1alpha1.UpstreamCredential{p.alice, p.bob} {
		testenv.Eventually(t, 20*time.Second, c.Name+" deleted with its server", func() bool { return gone(t, c) })
		if _, err := p.h.Store.Load(credentialKey(us, c)); !errors.Is(err, tokenstore.ErrNotFound) {
			t.Fatalf("%s's token is still stored: %v", c.Name, err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "server deleted", func() bool { return gone(t, us) })
	if got := p.srv.Stats().Revocations; got != before+2 {
		t.Fatalf("%d revocations for two credentials", got-before)
	}
}

// A logout request on a credential revokes and forgets its token and asks its person for a
// login; the other credential of the server goes on.
func TestCredentialLogoutRevokesDeletesAndAsksForLogin(t *testing.T) {
	p := startPerSubjectPair(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	before := p.srv.Stats().Revocations
	annotateCred(t, p.alice, mcpv1alpha1.AnnotationLogoutRequestedAt, "2026-12-01T12:00:00Z")
	var cur *mcpv1alpha1.UpstreamCredential
	testenv.Eventually(t, 20*time.Second, "alice logged out", func() bool {
		cur = getCredential(t, p.alice)
		return credNeedsLogin(cur, mcpv1alpha1.ReasonLoggedOut) && cur.Status.LastHandledLogoutRequest == "2026-12-01T12:00:00Z"
	})
	if credReadyReason(cur) != "False/"+mcpv1alpha1.ReasonLoggedOut || cur.Status.Token != nil {
		t.Fatalf("a logged-out credential: %s, token %+v", describeCred(cur), cur.Status.Token)
	}
	if _, _, err := p.record(t, p.alice); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("alice's token is still stored after her logout: %v", err)
	}
	if got := p.srv.Stats().Revocations; got != before+1 {
		t.Fatalf("%d revocations for one logout", got-before)
	}
	if !credVerified(getCredential(t, p.bob)) {
		t.Fatal("bob is affected by alice's logout")
	}
	waitCounts(t, p.us, "2/1/1/0", 20*time.Second)
}
