package cli

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// createPerSubjectServer creates an UpstreamServer for url with credentialMode PerSubject. The
// CLI reads only its spec, so nothing waits for the controller here.
func createPerSubjectServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url, CredentialMode: mcpv1alpha1.CredentialModePerSubject}}
	create(t, us)
	return us
}

func getCred(t *testing.T, ns, name string) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	c := &mcpv1alpha1.UpstreamCredential{}
	if err := apiClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatalf("reading UpstreamCredential: %v", err)
	}
	return c
}

// watchCredentialHandOvers records every credential hand-over Secret created in ns from now on,
// as it was created: the controller takes a hand-over over and deletes it.
func watchCredentialHandOvers(t *testing.T, ns string) func() []corev1.Secret {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Current().Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{LabelSelector: mcpv1alpha1.HandOverCredentialLabel})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []corev1.Secret
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*corev1.Secret); ok && ev.Type == watch.Added {
				mu.Lock()
				seen = append(seen, *s)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return func() []corev1.Secret {
		mu.Lock()
		defer mu.Unlock()
		return append([]corev1.Secret(nil), seen...)
	}
}

func credCond(c *mcpv1alpha1.UpstreamCredential, typ string, status metav1.ConditionStatus) bool {
	return credentialHolder(c).cond(typ) != nil && credentialHolder(c).cond(typ).Status == status
}

func noBrowser(t *testing.T) Env {
	env := testEnv()
	env.OpenBrowser = func(string) error { t.Error("a browser was opened"); return nil }
	return env
}

// TestLoginForCreatesTheCredentialAndHandsItOver runs `auth login SERVER --for …` against a
// PerSubject server: the CLI creates the UpstreamCredential (default name from the server and
// the first subject), logs in as the --login-hint user, and hands the login over in a Secret
// with both labels, owned by the credential and naming its creator. A later --for adds a
// subject; refresh and logout take the credential; a Shared server refuses --for.
func TestLoginForCreatesTheCredentialAndHandsItOver(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	ctx := context.Background()
	me, err := upstream.WhoAmI(ctx, apiClient)
	if err != nil {
		t.Fatal(err)
	}
	createServer(t, ns, "shared", srv.MCPURL())
	createPerSubjectServer(t, ns, "github", srv.MCPURL())
	run := func(env Env, args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code := runCLI(t, env, append(args, kubeArgs(ns)...)...)
		assertNoSecrets(t, srv, out+errOut)
		return out, errOut, code
	}

	// Refused before any browser opens.
	_, errOut, code := run(noBrowser(t), "auth", "login", "shared", "--for", "user/carol")
	if code != ExitFailed || !strings.Contains(errOut, "server shared is Shared: its login is the server's; set spec.credentialMode: PerSubject") {
		t.Errorf("--for on a Shared server: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(noBrowser(t), "auth", "login", "github", "--for", "serviceaccount/agent")
	if code != ExitFailed || !strings.Contains(errOut, "serviceaccount/NAMESPACE/NAME") {
		t.Errorf("a bad --for: exit %d\n%s", code, errOut)
	}

	handOvers := watchCredentialHandOvers(t, ns)
	useBrowser(t, "follow")
	out, errOut, code := run(testEnv(), "auth", "login", "github", "--for", "serviceaccount/"+ns+"/agent", "--for", "user/carol",
		"--login-hint", "bob", "--timeout", "20s")
	name := "github-sa-" + ns + "-agent"
	cred := getCred(t, ns, name)
	if code != 0 || cred == nil || !credCond(cred, mcpv1alpha1.ConditionReady, metav1.ConditionTrue) {
		t.Fatalf("login: exit %d, credential %s: %+v\nstdout:\n%s\nstderr:\n%s", code, name, cred, out, errOut)
	}
	wantSubjects := []mcpv1alpha1.CredentialSubject{sa(ns, "agent"), user("carol")}
	if cred.Spec.ServerRef.Name != "github" || len(cred.Spec.Subjects) != 2 || cred.Spec.Subjects[0] != wantSubjects[0] || cred.Spec.Subjects[1] != wantSubjects[1] {
		t.Errorf("credential spec %+v, want server github and %+v", cred.Spec, wantSubjects)
	}
	if !strings.Contains(errOut, "Created UpstreamCredential "+ns+"/"+name+" for serviceaccount/"+ns+"/agent, user/carol") {
		t.Errorf("the creation was not told:\n%s", errOut)
	}

	testenv.Eventually(t, 10*time.Second, "the hand-over Secret is seen", func() bool { return len(handOvers()) == 1 })
	sec := handOvers()[0]
	if sec.Type != mcpv1alpha1.HandOverSecretType || sec.Labels[mcpv1alpha1.HandOverServerLabel] != "github" ||
		sec.Labels[mcpv1alpha1.HandOverCredentialLabel] != name || sec.Annotations[mcpv1alpha1.AnnotationCreatedBy] != me {
		t.Errorf("hand-over type %s, labels %v, annotations %v; want both labels and created-by %s", sec.Type, sec.Labels, sec.Annotations, me)
	}
	if o := sec.OwnerReferences; len(o) != 1 || o[0].Kind != kindCredential || o[0].Name != name || o[0].UID != cred.UID {
		t.Errorf("hand-over owners %+v, want the credential %s (%s)", o, name, cred.UID)
	}
	p, err := handover.Decode(sec.Data[mcpv1alpha1.HandOverDataKey])
	if err != nil || p.ServerURL != srv.MCPURL() || p.AccessToken == "" {
		t.Errorf("hand-over payload: %v (server URL %q)", err, p.ServerURL)
	}
	if u := srv.Stats().Users["bob"]; u.Authorizations != 1 {
		t.Errorf("the authorization server logged bob in %d times (login_hint not sent?): %+v", u.Authorizations, srv.Stats().Users)
	}
	if cred.Status.Token == nil || cred.Status.Token.ObtainedBy != me {
		t.Errorf("token status %+v, want obtainedBy %s", cred.Status.Token, me)
	}
	for _, want := range []string{"UpstreamCredential " + ns + "/" + name + " (server github) is Ready", "for:     serviceaccount/" + ns + "/agent, user/carol"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the hand-over Secret is deleted", func() bool {
		var list corev1.SecretList
		return apiClient.List(ctx, &list, client.InNamespace(ns), client.HasLabels{mcpv1alpha1.HandOverCredentialLabel}) == nil && len(list.Items) == 0
	})

	// auth status lists the credential under its server.
	out, errOut, code = run(testEnv(), "auth", "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	rows := cliTable(t, out)
	if row := rows["credential/"+name]; row == nil || row["SUBJECTS"] != "serviceaccount/"+ns+"/agent,user/carol" {
		t.Errorf("status lacks the credential's row with its subjects:\n%s", out)
	} else if row["READY"] != "True" || row["REASON"] != mcpv1alpha1.ReasonVerified || row["ACCOUNT"] != me {
		t.Errorf("credential row %v", row)
	}
	if lines := strings.Split(out, "\n"); len(lines) < 3 || !strings.HasPrefix(lines[1], "github ") || !strings.HasPrefix(lines[2], "  credential/"+name) {
		t.Errorf("the credential is not listed under its server:\n%s", out)
	}
	out, _, _ = run(testEnv(), "auth", "status", "credential/"+name, "-o", "json")
	var parsed []StatusRow
	if err := json.Unmarshal([]byte(out), &parsed); err != nil || len(parsed) != 2 || parsed[1].Kind != kindCredential || parsed[1].Server != "github" {
		t.Errorf("status credential/%s -o json (%v):\n%s", name, err, out)
	}

	// The same first subject finds the same credential, and another subject is added to it:
	// with a valid login, without a new one.
	out, errOut, code = run(noBrowser(t), "auth", "login", "github", "--for", "serviceaccount/"+ns+"/agent", "--for", "user/dave")
	if code != 0 || !strings.Contains(errOut, "no new login is needed") {
		t.Errorf("adding a subject: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := getCred(t, ns, name).Spec.Subjects; len(got) != 3 || got[2] != user("dave") {
		t.Errorf("subjects after adding dave: %+v", got)
	}

	// A PerSubject server holds no token: refresh and logout take a credential.
	_, errOut, code = run(testEnv(), "auth", "refresh", "github")
	if code != ExitFailed || !strings.Contains(errOut, "is PerSubject: it holds no token of its own") {
		t.Errorf("refresh of a PerSubject server: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(testEnv(), "auth", "refresh", "shared", "--credential", name)
	if code != ExitFailed || !strings.Contains(errOut, "is for server github, not shared") {
		t.Errorf("refresh naming another server's credential: exit %d\n%s", code, errOut)
	}
	out, errOut, code = run(testEnv(), "auth", "refresh", "credential/"+name, "--timeout", "60s")
	if code != 0 || !strings.Contains(out, "is Ready") || !strings.Contains(errOut, "Requested a refresh of UpstreamCredential "+ns+"/"+name) {
		t.Errorf("refresh of the credential: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = run(testEnv(), "auth", "logout", "github", "--credential", name, "--timeout", "60s")
	if code != 0 || credCond(getCred(t, ns, name), mcpv1alpha1.ConditionAuthenticated, metav1.ConditionTrue) ||
		!strings.Contains(out, "--for serviceaccount/"+ns+"/agent") {
		t.Errorf("logout of the credential: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The login command a logged-out credential names is the one that logs it in again.
	useBrowser(t, "follow")
	out, errOut, code = run(testEnv(), "auth", "login", "github", "--for", "serviceaccount/"+ns+"/agent", "--timeout", "60s")
	if code != 0 || !strings.Contains(out, "(server github) is Ready") {
		t.Errorf("login again: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestLoginForUnderTheBindingPolicy runs `auth login` for a PerSubject server as dana, who has
// the shipped editor role, where the upstream-credential-binding policy is enforced: binding
// another user is refused with the policy's own message before any browser opens, and without
// --for the credential binds dana herself (her name from a SelfSubjectReview).
func TestLoginForUnderTheBindingPolicy(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createPerSubjectServer(t, ns, "github", srv.MCPURL())
	bindEditorRole(t, ns, "dana")
	testenv.InstallCredentialPolicy(t, ns)
	dana := kubeconfigAs(t, "dana")

	out, errOut, code := runCLI(t, noBrowser(t), "auth", "login", "github", "--for", "user/erin", "--timeout", "20s", "--kubeconfig", dana, "-n", ns)
	if code != ExitFailed || !strings.Contains(errOut, "the API server refused to create UpstreamCredential "+ns+"/github-user-erin") ||
		!strings.Contains(errOut, "binding user erin needs impersonate on users/erin") {
		t.Errorf("dana binding erin: exit %d, want %d and the policy's message\nstdout:\n%s\nstderr:\n%s", code, ExitFailed, out, errOut)
	}
	if getCred(t, ns, "github-user-erin") != nil {
		t.Error("a refused credential exists")
	}

	useBrowser(t, "follow")
	out, errOut, code = runCLI(t, testEnv(), "auth", "login", "github", "--timeout", "20s", "--kubeconfig", dana, "-n", ns)
	cred := getCred(t, ns, "github-user-dana")
	if cred == nil {
		t.Fatalf("dana's own login created no github-user-dana: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if s := cred.Spec.Subjects; len(s) != 1 || s[0] != user("dana") {
		t.Errorf("dana's credential lists %+v", s)
	}
	if code != 0 || cred.Status.Token == nil || cred.Status.Token.ObtainedBy != "dana" {
		t.Errorf("dana's login: exit %d, token %+v\nstdout:\n%s\nstderr:\n%s", code, cred.Status.Token, out, errOut)
	}
}

// A credential made by hand (any name) is found by the subject the controller's login command
// names, and logged in to; another person who may log in to the server can replace its login
// with --force, and without is told it needs none.
func TestLoginForAnExistingCredential(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createPerSubjectServer(t, ns, "github", srv.MCPURL())
	bindEditorRole(t, ns, "dana")
	create(t, &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bots-github"},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "github"},
			Subjects: []mcpv1alpha1.CredentialSubject{sa(ns, "bot"), sa(ns, "bot2")}}})
	testenv.Eventually(t, 30*time.Second, "the credential asks for a login", func() bool {
		return credCond(getCred(t, ns, "bots-github"), mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue)
	})
	cred := getCred(t, ns, "bots-github")
	if cred.Status.Authorization == nil || !strings.Contains(cred.Status.Authorization.LoginCommand, "--for serviceaccount/"+ns+"/bot") {
		t.Fatalf("login command %+v", cred.Status.Authorization)
	}

	useBrowser(t, "follow")
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "github", "--for", "serviceaccount/" + ns + "/bot", "--timeout", "60s"}, kubeArgs(ns)...)...)
	if code != 0 || !strings.Contains(errOut, "Using UpstreamCredential "+ns+"/bots-github, which lists serviceaccount/"+ns+"/bot") ||
		!strings.Contains(out, "UpstreamCredential "+ns+"/bots-github (server github) is Ready") {
		t.Fatalf("login for bot: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if getCred(t, ns, "github-sa-"+ns+"-bot") != nil {
		t.Error("a second credential was created for bot")
	}

	// dana may log in to the server, but the credential holds the administrator's login.
	dana := kubeconfigAs(t, "dana")
	out, errOut, code = runCLI(t, noBrowser(t), "auth", "login", "credential/bots-github", "--force", "--no-browser", "--timeout", "1s", "--kubeconfig", dana, "-n", ns)
	if code != ExitTimedOut {
		t.Errorf("dana --force: exit %d, want the login to start (and time out)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Not forced, a credential that is Ready needs no login (TestReplacesLogin: nor one holding
	// another person's login).
	_, errOut, code = runCLI(t, noBrowser(t), "auth", "login", "credential/bots-github", "--kubeconfig", dana, "-n", ns)
	if code != ExitFailed || !strings.Contains(errOut, "needs no login") {
		t.Errorf("dana, Ready credential: exit %d\n%s", code, errOut)
	}
}
