package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

var nsCounter atomic.Int32

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cli-%d-%d", time.Now().UnixNano()%100000, nsCounter.Add(1))}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// createServer creates an UpstreamServer for url and waits until it asks for a login.
func createServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url}}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatalf("creating UpstreamServer: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "server asks for a login", func() bool {
		return condIs(getUS(t, ns, name), mcpv1alpha1.ConditionAuthorizationRequired, "True")
	})
	return getUS(t, ns, name)
}

func getUS(t *testing.T, ns, name string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, us); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatalf("reading UpstreamServer: %v", err)
	}
	return us
}

func condIs(us *mcpv1alpha1.UpstreamServer, typ, status string) bool {
	if us == nil {
		return false
	}
	c := meta.FindStatusCondition(us.Status.Conditions, typ)
	return c != nil && string(c.Status) == status
}

func handOverSecrets(t *testing.T, ns string) []corev1.Secret {
	t.Helper()
	var list corev1.SecretList
	if err := apiClient.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{mcpv1alpha1.HandOverServerLabel}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// kubeArgs are the connection flags of every e2e invocation.
func kubeArgs(ns string) []string { return []string{"--kubeconfig", kubeconfigPath, "-n", ns} }

func testEnv() Env { return Env{PollInterval: 100 * time.Millisecond} }

func TestLoginHandsOverAndServerBecomesReady(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createServer(t, ns, "alpha", srv.MCPURL())
	useBrowser(t, "follow")

	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "alpha", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Fatalf("login exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"is Ready", "3 tools", "token:   expires"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "Open this URL") {
		t.Errorf("the URL was not printed:\n%s", errOut)
	}
	us := getUS(t, ns, "alpha")
	if !condIs(us, mcpv1alpha1.ConditionReady, "True") || !condIs(us, mcpv1alpha1.ConditionAuthorizationRequired, "False") {
		t.Errorf("server not Ready with AuthorizationRequired=False: %+v", us.Status.Conditions)
	}
	testenv.Eventually(t, 10*time.Second, "the hand-over Secret is deleted", func() bool { return len(handOverSecrets(t, ns)) == 0 })
	assertNoSecrets(t, srv, out+errOut)

	// A server that is Ready needs no login, unless forced.
	_, errOut, code = runCLI(t, testEnv(), append([]string{"auth", "login", "alpha"}, kubeArgs(ns)...)...)
	if code != ExitFailed || !strings.Contains(errOut, "needs no login") || !strings.Contains(errOut, "--force") {
		t.Errorf("login of a Ready server: exit %d\n%s", code, errOut)
	}
	out, errOut, code = runCLI(t, testEnv(), append([]string{"auth", "login", "alpha", "--force", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Errorf("forced login: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestLoginRefusesAMissingServer(t *testing.T) {
	ns := newNamespace(t)
	_, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "nope"}, kubeArgs(ns)...)...)
	if code != ExitFailed || !strings.Contains(errOut, `UpstreamServer "nope" not found`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

func TestLoginFailures(t *testing.T) {
	cases := []struct {
		mode, timeout string
		code          int
		want          string
	}{
		{"wrongstate", "30s", ExitFailed, "state mismatch"},
		{"deny", "30s", ExitFailed, "access denied"},
		{"ignore", "3s", ExitTimedOut, "timed out"},
	}
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			createServer(t, ns, tc.mode, srv.MCPURL())
			useBrowser(t, tc.mode)
			out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", tc.mode, "--timeout", tc.timeout}, kubeArgs(ns)...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d), stderr lacks %q?\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, out, errOut)
			}
			if n := len(handOverSecrets(t, ns)); n != 0 {
				t.Errorf("%d hand-over Secrets after a failed login", n)
			}
			if !condIs(getUS(t, ns, tc.mode), mcpv1alpha1.ConditionAuthorizationRequired, "True") {
				t.Error("a failed login cleared AuthorizationRequired")
			}
		})
	}
}

func TestLoginServerDeletedMidLogin(t *testing.T) {
	srv := startServer(t, oauthserver.Options{AutoApprove: true})
	ns := newNamespace(t)
	us := createServer(t, ns, "doomed", srv.MCPURL())
	env := testEnv()
	env.OpenBrowser = func(authURL string) error {
		go func() {
			if err := apiClient.Delete(context.Background(), us); err != nil {
				t.Errorf("deleting: %v", err)
			}
			testenv.Eventually(t, 30*time.Second, "the server is gone", func() bool { return getUS(t, ns, "doomed") == nil })
			loc, err := srv.FollowAuthorize(authURL)
			if err != nil {
				t.Errorf("authorize: %v", err)
				return
			}
			if resp, err := http.Get(loc.String()); err == nil {
				_ = resp.Body.Close()
			}
		}()
		return nil
	}
	out, errOut, code := runCLI(t, env, append([]string{"auth", "login", "doomed", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != ExitFailed || !strings.Contains(errOut, "went away during the login") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := len(handOverSecrets(t, ns)); n != 0 {
		t.Errorf("%d hand-over Secrets for a deleted server", n)
	}
}

func TestBadHandOversAreRejectedWithAWarning(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	us := createServer(t, ns, "target", srv.MCPURL())
	ctx := context.Background()

	garbage := mcpv1alpha1.NewHandOverSecret(us, []byte("{not json"))
	valid, _ := handover.Payload{ServerURL: us.Spec.URL, AccessToken: "forged", CreatedAt: time.Now()}.Encode()
	foreign := mcpv1alpha1.NewHandOverSecret(us, valid)
	foreign.OwnerReferences[0].UID = types.UID("00000000-0000-0000-0000-000000000000")
	for _, s := range []*corev1.Secret{garbage, foreign} {
		if err := apiClient.Create(ctx, s); err != nil {
			t.Fatalf("creating a bad hand-over: %v", err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "both bad hand-overs are deleted", func() bool { return len(handOverSecrets(t, ns)) == 0 })
	// Isomorphic events (same object, reason and action) become one series, so one is enough.
	testenv.Eventually(t, 30*time.Second, "a HandOverRejected Warning event", func() bool {
		var evs eventsv1.EventList
		if err := apiClient.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false
		}
		n := 0
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == mcpv1alpha1.ReasonHandOverRejected {
				n++
			}
		}
		return n >= 1
	})
	cur := getUS(t, ns, "target")
	if condIs(cur, mcpv1alpha1.ConditionAuthenticated, "True") {
		t.Fatal("a forged hand-over authenticated the server")
	}
	// The controller is alive and still takes a good login.
	useBrowser(t, "follow")
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "target", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Fatalf("login after bad hand-overs: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestLoginNoBrowserOnlyPrintsTheURL(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createServer(t, ns, "quiet", srv.MCPURL())
	env := testEnv()
	env.OpenBrowser = func(string) error { t.Error("a browser was opened with --no-browser"); return nil }
	_, errOut, code := runCLI(t, env, append([]string{"auth", "login", "quiet", "--no-browser", "--timeout", "3s"}, kubeArgs(ns)...)...)
	if code != ExitTimedOut || !strings.Contains(errOut, srv.Issuer()+"/authorize?") {
		t.Errorf("exit %d (want 2), stderr should hold the URL:\n%s", code, errOut)
	}
}

func TestLoginWithAPreregisteredConfidentialClient(t *testing.T) {
	const clientSecret = "pre-registered-client-secret-0123456789"
	srv := startServer(t, oauthserver.Options{NoDCR: true, Clients: map[string]string{"mcpproxy-pre": clientSecret}})
	ns := newNamespace(t)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oauth-client",
		Annotations: map[string]string{mcpv1alpha1.AnnotationAllowedServers: "conf"}},
		Data: map[string][]byte{"secret": []byte(clientSecret)}}
	if err := apiClient.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "conf"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL(), OAuth: &mcpv1alpha1.OAuthSpec{
			ClientID:        "mcpproxy-pre",
			ClientSecretRef: &mcpv1alpha1.SecretKeyReference{Name: "oauth-client", Key: "secret"},
		}}}
	if err := apiClient.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "server asks for a login", func() bool {
		return condIs(getUS(t, ns, "conf"), mcpv1alpha1.ConditionAuthorizationRequired, "True")
	})
	useBrowser(t, "follow")
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "conf", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Fatalf("login exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, clientSecret) {
		t.Error("the client secret was printed")
	}
	// The controller can spend the refresh token with the confidential client.
	out, errOut, code = runCLI(t, testEnv(), append([]string{"auth", "refresh", "conf", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Fatalf("refresh exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// A client secret in a Secret that does not allow the server is refused by the CLI before any
// browser opens, with the controller's own message: the controller would refuse the login anyway.
func TestLoginRefusesAClientSecretThatDoesNotAllowTheServer(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoDCR: true, Clients: map[string]string{"mcpproxy-pre": "pre-registered-client-secret-abcdef"}})
	ns := newNamespace(t)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oauth-client"},
		Data: map[string][]byte{"secret": []byte("pre-registered-client-secret-abcdef")}}
	if err := apiClient.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "conf"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL(), OAuth: &mcpv1alpha1.OAuthSpec{
			ClientID: "mcpproxy-pre", ClientSecretRef: &mcpv1alpha1.SecretKeyReference{Name: "oauth-client", Key: "secret"},
		}}}
	if err := apiClient.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "conf", "--force", "--no-browser", "--timeout", "20s"}, kubeArgs(ns)...)...)
	if code == 0 {
		t.Fatalf("login succeeded\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if !strings.Contains(errOut, mcpv1alpha1.AnnotationAllowedServers+"=conf") || strings.Contains(errOut, "Open this URL") {
		t.Fatalf("want a refusal naming the annotation before any browser; stderr:\n%s", errOut)
	}
	if strings.Contains(out+errOut, "pre-registered-client-secret-abcdef") {
		t.Error("the client secret was printed")
	}
}
