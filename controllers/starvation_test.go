package controllers_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/attacker"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A tarpit and a token that is always due (its refreshBefore is longer than its 1s lifetime)
// sit next to a healthy server: the healthy one keeps refreshing and stays Ready, and the
// always-due one is refreshed about once per floor, not on every pass.
func TestTarpitAndAlwaysDueTokenDoNotStarveOthers(t *testing.T) {
	healthy := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	fast := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	tarpit, _ := attacker.Tarpit(t)
	createServer(t, ns, "tarpit", tarpit)
	good := createServer(t, ns, "healthy", healthy.MCPURL())
	due := createServer(t, ns, "always-due", fast.MCPURL())
	cur := get(t, due)
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.OAuth = &mcpv1alpha1.OAuthSpec{RefreshBefore: &metav1.Duration{Duration: 5 * time.Second}}
	if err := apiClient.Patch(context.Background(), cur, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Login(t, healthy, good)
	testenv.Login(t, fast, get(t, due))
	waitReady(t, good, 20*time.Second)

	const window = 6 * time.Second
	g0, f0 := healthy.Stats().Refreshes, fast.Stats().Refreshes
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		if needsLogin(get(t, good), "") {
			t.Fatalf("the healthy server was asked for a login: %s", describe(get(t, good)))
		}
		time.Sleep(100 * time.Millisecond) // sampling a condition over a window, not waiting for one
	}
	if n := healthy.Stats().Refreshes - g0; n < 2 {
		t.Errorf("the healthy server refreshed %d times in %s with a 2s token; want at least 2", n, window)
	}
	max := int(window/lifecycle.DefaultMinRefreshInterval) + 2
	if n := fast.Stats().Refreshes - f0; n > max {
		t.Errorf("the always-due token was refreshed %d times in %s; the floor allows about %d", n, window, max)
	}
}
