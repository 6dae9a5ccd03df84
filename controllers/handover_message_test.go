package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A rejected hand-over's reason quotes the payload (its serverURL, say), and the API refuses a
// whole status patch over a condition message longer than 32 KiB: a 40 KB serverURL, kept by a
// finalizer, would freeze the server's status and hide every spec change. Messages are bounded,
// so the status keeps up. Alice has the built-in edit role only (no policy installed).
func TestOversizedRejectionDoesNotFreezeTheStatus(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	bindUsers(t, ns)
	us := createServer(t, ns, "linear", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)

	body, err := handover.Payload{ServerURL: "http://127.0.0.1/" + strings.Repeat("a", 40000), AccessToken: "x",
		CreatedAt: time.Now()}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sec := mcpv1alpha1.NewHandOverSecret(get(t, us), body)
	sec.Finalizers = []string{"alice.example/keep"}
	if err := testenv.ClientAs(t, "alice").Create(ctx, sec); err != nil {
		t.Fatalf("alice's hand-over: %v", err)
	}
	t.Cleanup(func() {
		_ = apiClient.Patch(context.Background(), sec.DeepCopy(), rawMerge(`{"metadata":{"finalizers":null}}`))
	})

	// An owner of the server changes its spec; the controller should observe it.
	cur := get(t, us)
	cur.Spec.HealthCheckInterval = &metav1.Duration{Duration: 7 * time.Minute}
	if err := apiClient.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the spec change observed and the rejection said, bounded", func() (bool, string) {
		c := get(t, us)
		r, la := condition(c, mcpv1alpha1.ConditionReady), condition(c, mcpv1alpha1.ConditionLoginAccepted)
		return r != nil && r.ObservedGeneration == c.Generation && la != nil && la.Reason == mcpv1alpha1.ReasonHandOverRejected &&
			len(la.Message) <= 1024 && strings.HasSuffix(la.Message, "(cut)"), describe(c)
	})
	for _, l := range h.Logs() {
		if strings.Contains(l, "Too long") {
			t.Fatalf("a status patch was refused: %s", l[:min(len(l), 300)])
		}
	}
}
