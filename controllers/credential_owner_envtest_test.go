package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Alice logged in for her agent's credential; carol, who may log in to the server too, hands her
// own upstream login over into it. Her agents would then write into carol's account. The
// controller refuses it (LoginAccepted names whose login is held), keeps alice's login, and
// alice logs in again freely.
func TestACredentialTakesANewLoginOnlyFromItsHolder(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	c := createCredential(t, ns, "gh-alice", us.Name, saSubject(ns, "alice-agent"))
	handOverAs := func(who, upstreamUser string) string {
		body, err := browserlogin.HandOver(testenv.HeadlessLoginAs(t, srv, us.Spec.URL, upstreamUser), us.Spec.URL, time.Now()).Encode()
		if err != nil {
			t.Fatal(err)
		}
		sec := mcpv1alpha1.NewCredentialHandOverSecret(getCredential(t, c), body)
		sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: who}
		if err := apiClient.Create(context.Background(), sec); err != nil {
			t.Fatal(err)
		}
		return sec.Name
	}
	accepted := func(name string, status metav1.ConditionStatus, says string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "LoginAccepted="+string(status)+" for "+name, func() (bool, string) {
			cur := getCredential(t, c)
			la := credCondition(cur, mcpv1alpha1.ConditionLoginAccepted)
			return la != nil && la.Status == status && strings.Contains(la.Message, name) && strings.Contains(la.Message, says), describeCred(cur)
		})
	}

	first := handOverAs("alice", "alice-upstream")
	accepted(first, metav1.ConditionTrue, "alice")
	waitCredVerified(t, c, 30*time.Second)
	held, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, c)))
	if err != nil {
		t.Fatal(err)
	}

	planted := handOverAs("carol", "carol-upstream")
	accepted(planted, metav1.ConditionFalse, "holds the upstream login of alice")
	rec, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, c)))
	if err != nil || rec.ObtainedBy != "alice" || !rec.ObtainedAt.Equal(held.ObtainedAt) {
		t.Fatalf("alice's login was replaced: %v by %q", err, rec.ObtainedBy)
	}

	again := handOverAs("alice", "alice-upstream")
	accepted(again, metav1.ConditionTrue, "alice")
}
