package controllers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// isDiscoveredPerSubject: a PerSubject server Ready on its discovery, for the current spec.
func isDiscoveredPerSubject(us *mcpv1alpha1.UpstreamServer) bool {
	c := condition(us, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == mcpv1alpha1.ReasonAuthorizationServerDiscovered &&
		c.ObservedGeneration == us.Generation
}

// A PerSubject server is Ready once its authorization server is discovered, asks nobody to log
// in for it, and refuses a login handed over for it, saying how to log in instead.
func TestPerSubjectServerIsReadyOnDiscoveryAndRefusesItsOwnHandOver(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, 20*time.Second, "Ready on discovery", func() bool { cur = get(t, us); return isDiscoveredPerSubject(cur) })
	for typ, want := range map[string]metav1.ConditionStatus{mcpv1alpha1.ConditionAuthenticated: metav1.ConditionFalse,
		mcpv1alpha1.ConditionConnected: metav1.ConditionFalse, mcpv1alpha1.ConditionAuthorizationRequired: metav1.ConditionFalse} {
		if c := condition(cur, typ); c == nil || c.Status != want || c.Reason != mcpv1alpha1.ReasonPerSubject {
			t.Fatalf("%s is not %s/PerSubject: %s", typ, want, describe(cur))
		}
	}
	if a := condition(cur, mcpv1alpha1.ConditionAuthenticated); !strings.Contains(a.Message, srv.Issuer()) {
		t.Fatalf("Authenticated does not name the discovered authorization server: %s", a.Message)
	}
	if cur.Status.Authorization != nil || counts(cur) != "0/0/0/0" {
		t.Fatalf("status.authorization %+v, counts %s", cur.Status.Authorization, counts(cur))
	}

	testenv.Login(t, srv, us) // a login for the server itself, as in Shared mode
	testenv.Eventually(t, 20*time.Second, "the server's hand-over refused", func() bool {
		c := condition(get(t, us), mcpv1alpha1.ConditionLoginAccepted)
		return c != nil && c.Reason == mcpv1alpha1.ReasonHandOverRejected
	})
	cur = get(t, us)
	msg := condition(cur, mcpv1alpha1.ConditionLoginAccepted).Message
	if !strings.Contains(msg, "PerSubject") || !strings.Contains(msg, "mcpproxy auth login gh -n "+ns+" --for") {
		t.Fatalf("the refusal does not say how to log in instead: %s", msg)
	}
	if needsLogin(cur, "") || !isDiscoveredPerSubject(cur) {
		t.Fatalf("a refused hand-over changed the server: %s", describe(cur))
	}
	testenv.Eventually(t, 10*time.Second, "hand-over deleted", func() bool { return countHandOvers(t, ns) == 0 })
	if _, err := h.Store.Load(upstream.StoreKey(cur)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a PerSubject server stored a token of its own: %v", err)
	}
}

// Switching a server from Shared to PerSubject revokes and deletes the token everyone used:
// whoever logged in last no longer speaks for every caller.
func TestSwitchingToPerSubjectRevokesTheSharedToken(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "was-shared", srv.MCPURL())
	testenv.Login(t, srv, us)
	cur := waitReady(t, us, 20*time.Second)
	cur.Spec.CredentialMode = mcpv1alpha1.CredentialModePerSubject
	if err := apiClient.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "Ready as PerSubject", func() bool { return isDiscoveredPerSubject(get(t, us)) })
	if _, err := h.Store.Load(upstream.StoreKey(cur)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("the shared token is still stored: %v", err)
	}
	if srv.Stats().Revocations != 1 || h.SessionConnected(us) {
		t.Fatalf("the shared token was not revoked (%d revocations) or its session is open", srv.Stats().Revocations)
	}
}

// A credential whose server is missing, or Shared, says so in Ready, refuses its hand-overs,
// and comes to life when a PerSubject server of that name appears.
func TestCredentialOfAMissingOrSharedServerSaysSo(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	early := createCredential(t, ns, "early", "later", userSubject("alice"))
	shared := createServer(t, ns, "shared", srv.MCPURL())
	wrong := createCredential(t, ns, "wrong", "shared", userSubject("bob"))
	for c, reason := range map[*mcpv1alpha1.UpstreamCredential]string{early: mcpv1alpha1.ReasonServerNotFound, wrong: mcpv1alpha1.ReasonNotPerSubject} {
		testenv.Eventually(t, 20*time.Second, c.Name+" Ready=False/"+reason, func() bool { return credReadyReason(getCredential(t, c)) == "False/"+reason })
	}
	if m := credCondition(getCredential(t, wrong), mcpv1alpha1.ConditionReady).Message; !strings.Contains(m, "credentialMode: PerSubject") {
		t.Fatalf("NotPerSubject does not say what to do: %s", m)
	}

	testenv.LoginCredential(t, srv, wrong, "bob")
	testenv.Eventually(t, 20*time.Second, "the hand-over refused", func() bool {
		c := credCondition(getCredential(t, wrong), mcpv1alpha1.ConditionLoginAccepted)
		return c != nil && c.Reason == mcpv1alpha1.ReasonHandOverRejected && countHandOvers(t, ns) == 0
	})
	if _, err := h.Store.Load(credentialKey(get(t, shared), wrong)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a credential of a Shared server stored a token: %v", err)
	}
	// The Shared server never took the credential's hand-over for one of its own.
	if c := condition(get(t, shared), mcpv1alpha1.ConditionLoginAccepted); c != nil {
		t.Fatalf("the server acted on a credential's hand-over: %s", describe(get(t, shared)))
	}

	later := createPerSubjectServer(t, ns, "later", srv.MCPURL())
	testenv.Eventually(t, 20*time.Second, "early asks for a login once its server exists", func() bool {
		c := getCredential(t, early)
		return credNeedsLogin(c, mcpv1alpha1.ReasonNoToken) && ownedByServer(c, get(t, later))
	})
}
