package controllers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Where the login-handover policy is not installed, alice (the built-in edit role: she may
// create Secrets, and read the server's UID from its events) can still build a hand-over the
// controller would have stored. The controller's own checks refuse each forgery: it says so in
// LoginAccepted, naming the mismatch, deletes the Secret, keeps the stored login, and the
// attacker's endpoints never hear from it, not even at the next refresh.
func TestForgedHandOversAreRejectedAndTheStoredLoginKept(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	bindUsers(t, ns)
	us := createServer(t, ns, "linear", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)
	key := upstream.StoreKey(get(t, us))
	held, err := h.Store.Load(key)
	if err != nil {
		t.Fatal(err)
	}
	evil := newRecorder(t)

	// Alice's payloads start from a login of her own at the real server: genuine tokens, for
	// her account, with one field changed.
	mine := browserlogin.HandOver(testenv.HeadlessLogin(t, srv, srv.MCPURL()), srv.MCPURL(), time.Now())
	for _, tc := range []struct {
		name   string
		forge  func(p *handover.Payload)
		saying string
	}{
		{"the attacker's token endpoint", func(p *handover.Payload) { p.TokenEndpoint = evil.URL + "/token" }, "its token endpoint"},
		{"the attacker's revocation endpoint", func(p *handover.Payload) { p.RevocationEndpoint = evil.URL + "/revoke" }, "its revocation endpoint"},
		{"the attacker as issuer", func(p *handover.Payload) { p.Issuer, p.TokenEndpoint = evil.URL, evil.URL+"/token" }, "it was issued by " + evil.URL},
		{"a login older than the one held", func(p *handover.Payload) { p.CreatedAt = held.ObtainedAt.Add(-time.Minute) }, "older than the one the controller holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mine
			tc.forge(&p)
			body, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			sec := mcpv1alpha1.NewHandOverSecret(get(t, us), body)
			sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: "bob"}
			if err := testenv.ClientAs(t, "alice").Create(context.Background(), sec); err != nil {
				t.Fatalf("without the policy, edit may create the hand-over: %v", err)
			}
			testenv.Eventually(t, 20*time.Second, "LoginAccepted=False names "+sec.Name, func() (bool, string) {
				c := condition(get(t, us), mcpv1alpha1.ConditionLoginAccepted)
				return c != nil && c.Status == metav1.ConditionFalse && c.Reason == mcpv1alpha1.ReasonHandOverRejected &&
					strings.Contains(c.Message, sec.Name) && strings.Contains(c.Message, tc.saying), describe(get(t, us))
			})
			testenv.Eventually(t, 20*time.Second, "the forged hand-over is deleted", func() bool { return countHandOvers(t, ns) == 0 })
			rec, err := h.Store.Load(key)
			if err != nil {
				t.Fatal(err)
			}
			if rec.AccessToken == p.AccessToken || rec.ObtainedBy == "bob" || !rec.ObtainedAt.Equal(held.ObtainedAt) {
				t.Fatalf("the stored login was replaced: obtained %s by %q", rec.ObtainedAt, rec.ObtainedBy)
			}
			if !isReady(get(t, us)) {
				t.Fatalf("the server is no longer Ready: %s", describe(get(t, us)))
			}
		})
	}

	// The next refresh goes to the real authorization server, and the attacker hears nothing.
	refreshes := srv.Stats().Refreshes
	annotate(t, us, mcpv1alpha1.AnnotationRefreshRequestedAt, time.Now().Format(time.RFC3339Nano))
	testenv.Eventually(t, 20*time.Second, "a refresh at the real server", func() bool { return srv.Stats().Refreshes > refreshes })
	if got := evil.requests(); len(got) != 0 {
		t.Fatalf("the attacker's endpoints received %d requests: %v", len(got), got)
	}
}

// recorder is an attacker's server on loopback that notes every request it gets.
type recorder struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.got = append(r.got, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		http.Error(w, "recorded", http.StatusTeapot)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}
