package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.Now()}
}

// reviewingClient is a fake API server whose TokenReviews authenticate every token as the
// ServiceAccount ns/<token> and whose SubjectAccessReviews allow everything.
func reviewingClient(t *testing.T, objs ...client.Object) client.Client {
	sch := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).WithStatusSubresource(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			switch o := obj.(type) {
			case *authnv1.TokenReview:
				o.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{
					Username: "system:serviceaccount:ns:" + o.Spec.Token, Groups: []string{"system:serviceaccounts:ns"}}}
				return nil
			case *authzv1.SubjectAccessReview:
				o.Status.Allowed = true
				return nil
			}
			return c.Create(ctx, obj, opts...)
		}}).Build()
}

// A PerSubject server's upstream rejects the credential's token: the gateway asks the
// credential's reconciler (RefreshRequest.Credential) to refresh that revision, waits for it,
// and the retry carries the credential's new token. The caller sees neither token.
func TestCredentialTokenRejectedAsksForItsRefresh(t *testing.T) {
	up := startTokenUpstream(t)
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", Generation: 1},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp", CredentialMode: mcpv1alpha1.CredentialModePerSubject},
		Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			{Type: mcpv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: mcpv1alpha1.ReasonAuthorizationServerDiscovered,
				ObservedGeneration: 1, LastTransitionTime: metav1.Now()}}}}
	cr := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agents", UID: "u1"},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "s"},
			Subjects: []mcpv1alpha1.CredentialSubject{sa("ns", "agent")}},
		Status: mcpv1alpha1.UpstreamCredentialStatus{Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, mcpv1alpha1.ReasonVerified)}}}
	cl := reviewingClient(t, us, cr)
	store, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key := upstream.CredentialStoreKey(us, cr)
	rev, err := store.Save(key, &tokenstore.Record{AccessToken: "old", Expiry: time.Now().Add(time.Hour), ServerURL: us.Spec.URL}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The server's own key holds a token the upstream accepts: it must never be used.
	if _, err := store.Save(upstream.StoreKey(us), &tokenstore.Record{AccessToken: "new", ServerURL: us.Spec.URL}, 0); err != nil {
		t.Fatal(err)
	}
	rr := &refreshRecorder{}
	rr.on = func(upstream.RefreshRequest) {
		if _, err := store.Save(key, &tokenstore.Record{AccessToken: "new", Expiry: time.Now().Add(time.Hour), ServerURL: us.Spec.URL}, rev); err != nil {
			t.Error(err)
		}
	}
	g, err := New(Options{Client: cl, APIReader: cl, Store: store, Refresher: rr, RefreshWait: 5 * time.Second, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.handler)
	t.Cleanup(srv.Close)
	post := func(token string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/servers/ns/s/mcp", strings.NewReader(pingBody))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	status, hdr, body := post("agent")
	if status != http.StatusOK || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("answer: %d %s", status, body)
	}
	want := upstream.RefreshRequest{Server: upstream.Name(us), Credential: "agents", RejectedRevision: rev}
	if got := rr.requests(); len(got) != 1 || got[0] != want {
		t.Fatalf("refresh requests = %+v, want [%+v]", got, want)
	}
	for k, v := range hdr {
		if strings.Contains(strings.Join(v, " "), "new") || strings.Contains(strings.Join(v, " "), "old") {
			t.Fatalf("a token in the answer's header %s: %v", k, v)
		}
	}

	// Another ServiceAccount has no credential: it is told the command for itself, and
	// nothing reaches the upstream (the server's own token least of all).
	before := up.rejected.Load()
	status, _, body = post("other")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, ReasonNoCredential) ||
		!strings.Contains(body, "mcpproxy auth login s -n ns --for serviceaccount/ns/other") {
		t.Fatalf("no credential: %d %s", status, body)
	}
	if up.rejected.Load() != before {
		t.Fatal("a caller without a credential reached the upstream")
	}
}

func TestCredentialReadiness(t *testing.T) {
	now := time.Now()
	next := metav1.NewTime(now.Add(42 * time.Second))
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example/mcp"}}
	good := &tokenstore.Record{AccessToken: "t", Expiry: now.Add(time.Hour), ServerURL: us.Spec.URL, Revision: 3}
	expired := &tokenstore.Record{AccessToken: "t", Expiry: now.Add(-time.Minute), ServerURL: us.Spec.URL, Revision: 3}
	elsewhere := &tokenstore.Record{AccessToken: "t", Expiry: now.Add(time.Hour), ServerURL: "https://other.example/mcp"}
	for name, c := range map[string]struct {
		conds    []metav1.Condition
		refresh  *mcpv1alpha1.RefreshStatus
		suspend  bool
		rec      *tokenstore.Record
		rejected bool
		code     int
		reason   string
	}{
		"usable token":                {rec: good},
		"status lags a usable token":  {rec: good, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "NoToken")}},
		"expired, Ready: send waits":  {rec: expired, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, "Verified")}},
		"a token for another URL":     {rec: elsewhere, code: CodeNotReady, reason: mcpv1alpha1.ReasonReconciling},
		"rejected, Ready lags":        {rec: good, rejected: true, code: CodeNotReady, reason: mcpv1alpha1.ReasonReconciling, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, "Verified")}},
		"no controller pass yet":      {code: CodeNotReady, reason: mcpv1alpha1.ReasonReconciling},
		"no token":                    {code: CodeAuthorizationRequired, reason: mcpv1alpha1.ReasonNoToken, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "NoToken")}},
		"refresh token rejected":      {rec: expired, code: CodeAuthorizationRequired, reason: mcpv1alpha1.ReasonRefreshTokenRejected, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, mcpv1alpha1.ReasonRefreshTokenRejected), cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "TokenExpired")}},
		"backing off":                 {rec: expired, code: CodeNotReady, reason: mcpv1alpha1.ReasonRefreshFailing, refresh: &mcpv1alpha1.RefreshStatus{FailedAttempts: 2, NextRefreshTime: &next}, conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "RefreshFailing")}},
		"suspended":                   {rec: good, suspend: true, code: CodeNotReady, reason: mcpv1alpha1.ReasonSuspended},
		"not ready for another cause": {rec: expired, code: CodeNotReady, reason: "ConnectFailed", conds: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "ConnectFailed")}},
	} {
		t.Run(name, func(t *testing.T) {
			cr := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
				Spec:   mcpv1alpha1.UpstreamCredentialSpec{Suspend: c.suspend},
				Status: mcpv1alpha1.UpstreamCredentialStatus{Conditions: c.conds, Refresh: c.refresh}}
			h := holder{us: us, cred: cr, login: "mcpproxy auth login s -n ns --for user/a --credential c"}
			nr := credentialReadiness(h, c.rec, c.rejected, now)
			switch {
			case c.code == 0 && nr != nil:
				t.Fatalf("refused (%s), want forwarded", nr.msg)
			case c.code == 0:
			case nr == nil:
				t.Fatalf("forwarded, want code %d", c.code)
			case nr.code != c.code || nr.data.Reason != c.reason || nr.data.Credential != "c":
				t.Fatalf("got %d %+v %q", nr.code, nr.data, nr.msg)
			case c.code == CodeAuthorizationRequired && (nr.data.LoginCommand != h.login || !strings.Contains(nr.msg, h.login)):
				t.Fatalf("the login command is missing: %+v %q", nr.data, nr.msg)
			}
		})
	}
}

// The catalog opens at most MaxCredentialSessions credential sessions, counting those being
// opened; wanted credentials beyond wait for room.
func TestCredentialSessionsAreBounded(t *testing.T) {
	c := newCatalog(&Gateway{opts: Options{ResyncInterval: time.Second}})
	c.tuning.MaxCredentialSessions = 2
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Spec: mcpv1alpha1.UpstreamServerSpec{CredentialMode: mcpv1alpha1.CredentialModePerSubject}}
	nn := upstream.Name(us)
	c.perSubject[nn] = us
	for _, name := range []string{"a", "b", "c"} {
		cr := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)}}
		c.wantLocked(connKey{nn: nn, cred: name, uid: cr.UID}, cr)
	}
	if jobs := c.planLocked(nil, time.Now()); len(jobs) != 2 {
		t.Fatalf("planned %d connects, want 2", len(jobs))
	}
	if jobs := c.planLocked(nil, time.Now()); len(jobs) != 0 {
		t.Fatalf("planned %d more connects while two are being opened", len(jobs))
	}
	for key := range c.busy { // one connect failed: room for the third
		delete(c.busy, key)
		c.retryAt[key] = time.Now().Add(time.Hour)
		break
	}
	if jobs := c.planLocked(nil, time.Now()); len(jobs) != 1 || c.retryAt[jobs[0].key].After(time.Now()) {
		t.Fatalf("planned %+v after a failure, want the waiting credential", jobs)
	}
}
