package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// serverOpts shape an UpstreamServer for a scenario.
type serverOpts struct {
	// refreshBefore is spec.oauth.refreshBefore. The test server's JWT exp is whole seconds, so
	// a token dies up to 1s before its expires_in says; with lifetimes of a few seconds the
	// scenarios refresh earlier than the default quarter so no request races that rounding.
	refreshBefore time.Duration
	// healthCheck is spec.healthCheckInterval: how often the live session pings the server.
	healthCheck time.Duration
	// clientID and clientSecret name a pre-registered confidential client; the secret goes
	// into a Secret the spec references.
	clientID, clientSecret string
	// perSubject sets spec.credentialMode: PerSubject (each caller's own UpstreamCredential).
	perSubject bool
	// scopes is spec.oauth.scopes (test/oauthserver's whoami tool needs "profile").
	scopes []string
}

// newNamespace creates a namespace for one scenario and, when the scenario ends, snapshots
// every server's and credential's status (for the leak check) and removes them, so the next
// scenario's manager does not see them.
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := kube.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		var list mcpv1alpha1.UpstreamServerList
		if err := kube.List(ctx, &list, client.InNamespace(name)); err != nil {
			t.Errorf("listing servers: %v", err)
			return
		}
		if b, err := json.MarshalIndent(list.Items, "", "  "); err == nil {
			_ = os.MkdirAll(filepath.Join(runDir, "snapshots"), 0o755)
			_ = os.WriteFile(filepath.Join(runDir, "snapshots", name+".json"), b, 0o600)
		}
		for i := range list.Items {
			us := &list.Items[i]
			patch := client.MergeFrom(us.DeepCopy())
			us.Finalizers = nil
			_ = kube.Patch(ctx, us, patch)
			_ = kube.Delete(ctx, us)
		}
		var creds mcpv1alpha1.UpstreamCredentialList
		if err := kube.List(ctx, &creds, client.InNamespace(name)); err != nil {
			t.Errorf("listing credentials: %v", err)
			return
		}
		if len(creds.Items) == 0 {
			return
		}
		if b, err := json.MarshalIndent(creds.Items, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(runDir, "snapshots", name+"-credentials.json"), b, 0o600)
		}
		for i := range creds.Items {
			c := &creds.Items[i]
			patch := client.MergeFrom(c.DeepCopy())
			c.Finalizers = nil
			_ = kube.Patch(ctx, c, patch)
			_ = kube.Delete(ctx, c)
		}
	})
	return name
}

// createServer creates an UpstreamServer for the MCP URL.
func createServer(t *testing.T, ns, name, url string, o serverOpts) {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url}}
	if o.refreshBefore > 0 || len(o.scopes) > 0 {
		us.Spec.OAuth = &mcpv1alpha1.OAuthSpec{Scopes: o.scopes}
	}
	if o.refreshBefore > 0 {
		us.Spec.OAuth.RefreshBefore = &metav1.Duration{Duration: o.refreshBefore}
	}
	if o.perSubject {
		us.Spec.CredentialMode = mcpv1alpha1.CredentialModePerSubject
	}
	if o.healthCheck > 0 {
		us.Spec.HealthCheckInterval = &metav1.Duration{Duration: o.healthCheck}
	}
	if o.clientID != "" {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-client",
			Annotations: map[string]string{mcpv1alpha1.AnnotationAllowedServers: name}},
			StringData: map[string]string{"client-secret": o.clientSecret}}
		if err := kube.Create(context.Background(), sec); err != nil {
			t.Fatalf("creating the client Secret: %v", err)
		}
		if us.Spec.OAuth == nil {
			us.Spec.OAuth = &mcpv1alpha1.OAuthSpec{}
		}
		us.Spec.OAuth.ClientID = o.clientID
		us.Spec.OAuth.ClientSecretRef = &mcpv1alpha1.SecretKeyReference{Name: sec.Name, Key: "client-secret"}
	}
	if err := kube.Create(context.Background(), us); err != nil {
		t.Fatalf("creating UpstreamServer %s: %v", name, err)
	}
}

// getServer reads a server from the API server (nil if it does not exist).
func getServer(t *testing.T, ns, name string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	err := kube.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, us)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading UpstreamServer %s/%s: %v", ns, name, err)
	}
	return us
}

// condStatus is the status of condition typ ("" when absent).
func condStatus(us *mcpv1alpha1.UpstreamServer, typ string) metav1.ConditionStatus {
	if us == nil {
		return ""
	}
	if c := meta.FindStatusCondition(us.Status.Conditions, typ); c != nil {
		return c.Status
	}
	return ""
}

// describe is a one-line summary of a server's conditions, for failure messages.
func describe(us *mcpv1alpha1.UpstreamServer) string {
	if us == nil {
		return "<absent>"
	}
	s := us.Name + ":"
	for _, c := range us.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s)", c.Type, c.Status, c.Reason)
	}
	if r := us.Status.Refresh; r != nil {
		s += fmt.Sprintf(" failedAttempts=%d", r.FailedAttempts)
	}
	return s
}

// isReady reports Ready=True.
func isReady(us *mcpv1alpha1.UpstreamServer) bool {
	return condStatus(us, mcpv1alpha1.ConditionReady) == metav1.ConditionTrue
}

// needsLogin reports AuthorizationRequired=True.
func needsLogin(us *mcpv1alpha1.UpstreamServer) bool {
	return condStatus(us, mcpv1alpha1.ConditionAuthorizationRequired) == metav1.ConditionTrue
}

// waitServer polls one server until pred holds.
func waitServer(t *testing.T, ns, name, what string, d time.Duration, pred func(*mcpv1alpha1.UpstreamServer) bool) {
	t.Helper()
	testenv.Eventually(t, d, name+" "+what, func() (bool, string) {
		us := getServer(t, ns, name)
		return pred(us), describe(us)
	})
}

// annotate merges annotations into a server's metadata (each change enqueues a reconcile).
func annotate(ctx context.Context, ns, name string, kv map[string]string) error {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": kv}})
	return kube.Patch(ctx, us, client.RawPatch(types.MergePatchType, b))
}

// bogusHandOver creates a hand-over Secret for the server that the controller must reject
// (its payload is not a login), which enqueues a reconcile.
func bogusHandOver(ctx context.Context, us *mcpv1alpha1.UpstreamServer, i int) error {
	return kube.Create(ctx, mcpv1alpha1.NewHandOverSecret(us, fmt.Appendf(nil, `{"bogus":%d}`, i)))
}

// runCLI runs bin/mcpproxy against the control plane and waits up to d for it.
func runCLI(t *testing.T, name string, env []string, d time.Duration, args ...string) (int, string) {
	t.Helper()
	p := startProc(t, "mcpproxy-"+name, append([]string{"KUBECONFIG=" + controlPlane.KubeconfigPath}, env...), bins.cli, args...)
	code := p.Wait(d)
	if code == -1 {
		p.Kill()
	}
	return code, p.Log()
}
