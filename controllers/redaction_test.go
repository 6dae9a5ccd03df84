package controllers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// TestNoSecretReachesLogsEventsOrStatus drives a login, refreshes, a rejected and a failing
// refresh and a logout, then looks for every secret the oauth server ever issued in everything
// the controller wrote: its log lines, its events and the server's status.
func TestNoSecretReachesLogsEventsOrStatus(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "leaky", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)
	testenv.Eventually(t, 20*time.Second, "two refreshes", func() bool { return srv.Stats().Refreshes >= 2 })
	srv.FailNextTokenRequests(1, oauthserver.Fault{Kind: oauthserver.FaultMalformed})
	testenv.Eventually(t, 20*time.Second, "a failed refresh", func() bool {
		r := get(t, us).Status.Refresh
		return r != nil && r.LastFailureReason != ""
	})
	srv.FailNextTokenRequests(1, oauthserver.Fault{Kind: oauthserver.FaultInvalidGrant})
	testenv.Eventually(t, 20*time.Second, "refresh rejected", func() bool {
		return needsLogin(get(t, us), mcpv1alpha1.ReasonRefreshTokenRejected)
	})
	annotate(t, us, mcpv1alpha1.AnnotationLogoutRequestedAt, "now")
	testenv.Eventually(t, 20*time.Second, "logged out", func() bool { return needsLogin(get(t, us), mcpv1alpha1.ReasonLoggedOut) })

	var written []string
	written = append(written, h.Logs()...)
	status, _ := json.Marshal(get(t, us).Status)
	written = append(written, string(status))
	var evs eventsv1.EventList
	if err := apiClient.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) == 0 {
		t.Fatal("no events recorded: the check would prove nothing")
	}
	for _, e := range evs.Items {
		written = append(written, e.Reason+" "+e.Note)
	}
	secrets := srv.IssuedSecrets()
	if len(secrets) < 4 {
		t.Fatalf("the oauth server issued only %d secrets", len(secrets))
	}
	for _, line := range written {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Fatalf("a secret issued by the oauth server leaked into: %.300s", line)
			}
		}
	}
}
