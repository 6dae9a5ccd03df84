package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// secretRecorder is the host a user who may not read Secrets points a server at: an open MCP
// server (no token needed) that counts every request carrying the Secret's value anywhere,
// in a header, the URL or the body.
type secretRecorder struct {
	*httptest.Server
	value    string
	leaks    atomic.Int32 // requests that carried the value
	asHeader atomic.Int32 // requests whose X-Api-Key was the value
}

func startSecretRecorder(t *testing.T, value string) *secretRecorder {
	t.Helper()
	rec := &secretRecorder{value: value}
	srv := mcp.NewServer(&mcp.Implementation{Name: "recorder", Version: "v1"}, nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		seen := strings.Contains(r.URL.String(), value) || bytes.Contains(body, []byte(value))
		for _, vs := range r.Header {
			for _, v := range vs {
				seen = seen || strings.Contains(v, value)
			}
		}
		if seen {
			rec.leaks.Add(1)
		}
		if r.Header.Get("X-Api-Key") == value {
			rec.asHeader.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// A user who may create UpstreamServers but not read Secrets names a Secret of the namespace in
// a server pointed at their own host. The manager refuses until the Secret opts in with
// mcpproxy.dev/allowed-servers: ConfigInvalid says what to add, and the value reaches neither
// the host nor any condition or log line. Once an admin annotates the Secret, the server uses it.
func TestReferencedSecretsAreOptIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		refer func(spec *mcpv1alpha1.UpstreamServerSpec, ref mcpv1alpha1.SecretKeyReference)
		// used says the opted-in Secret's value is in use; nil when past ConfigInvalid is all
		// the test can tell (a client secret goes only to a token endpoint, after a login).
		used func(t *testing.T, us *mcpv1alpha1.UpstreamServer, rec *secretRecorder) (bool, string)
	}{
		{"header valueFrom", "header X-Api-Key",
			func(spec *mcpv1alpha1.UpstreamServerSpec, ref mcpv1alpha1.SecretKeyReference) {
				spec.Headers = []mcpv1alpha1.HeaderSpec{{Name: "X-Api-Key", ValueFrom: &mcpv1alpha1.HeaderValueSource{SecretKeyRef: ref}}}
			},
			func(t *testing.T, us *mcpv1alpha1.UpstreamServer, rec *secretRecorder) (bool, string) {
				cur := get(t, us)
				return isReady(cur) && rec.asHeader.Load() > 0, describe(cur)
			}},
		{"oauth clientSecretRef", "spec.oauth.clientSecretRef",
			func(spec *mcpv1alpha1.UpstreamServerSpec, ref mcpv1alpha1.SecretKeyReference) {
				spec.OAuth = &mcpv1alpha1.OAuthSpec{ClientID: "registered", ClientSecretRef: &ref}
			}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			ctx := context.Background()
			value := "victim-credential-" + strings.ReplaceAll(tc.name, " ", "-") + "-3f9a1c"
			rec := startSecretRecorder(t, value)
			h := startHarness(t, ns, "")

			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "victim"},
				Data: map[string][]byte{"key": []byte(value)}}
			if err := apiClient.Create(ctx, sec); err != nil {
				t.Fatal(err)
			}
			mallory := serverCreatorWithoutSecrets(t, ns, "mallory")
			if err := mallory.Get(ctx, client.ObjectKeyFromObject(sec), &corev1.Secret{}); !apierrors.IsForbidden(err) {
				t.Fatalf("mallory reading the Secret: %v, want Forbidden (else the test proves nothing)", err)
			}
			us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exfil"},
				Spec: mcpv1alpha1.UpstreamServerSpec{URL: rec.URL + "/mcp"}}
			tc.refer(&us.Spec, mcpv1alpha1.SecretKeyReference{Name: sec.Name, Key: "key"})
			if err := mallory.Create(ctx, us); err != nil {
				t.Fatalf("mallory creating the server: %v", err)
			}

			wantMsg := tc.field + ": Secret " + ns + `/victim does not allow UpstreamServer "exfil" to use it; ` +
				`add the annotation mcpproxy.dev/allowed-servers=exfil (or "*" for every server in the namespace)`
			testenv.Eventually(t, 20*time.Second, "ConfigInvalid naming the annotation", func() (bool, string) {
				cur := get(t, us)
				c := condition(cur, mcpv1alpha1.ConditionAuthenticated)
				ok := c != nil && c.Reason == mcpv1alpha1.ReasonConfigInvalid && c.Message == wantMsg &&
					c.ObservedGeneration == cur.Generation
				return ok, fmt.Sprintf("%s; the host saw the value %d times", describe(cur), rec.leaks.Load())
			})
			cur := get(t, us)
			if isReady(cur) {
				t.Fatalf("a server refused its Secret is Ready: %s", describe(cur))
			}
			status, err := json.Marshal(cur.Status)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(status), value) {
				t.Fatalf("the Secret's value is in the status: %s", status)
			}
			for _, line := range h.Logs() {
				if strings.Contains(line, value) {
					t.Fatalf("the Secret's value is in the manager's log: %s", line)
				}
			}
			if n := rec.leaks.Load(); n != 0 {
				t.Fatalf("the Secret's value reached the server's host %d times", n)
			}

			// The admin opts the Secret in. The manager watches no referenced Secret (it caches
			// hand-overs only), so it would look again within a minute; touching the server is
			// what a user does to have it look now.
			patch := client.MergeFrom(sec.DeepCopy())
			sec.Annotations = map[string]string{mcpv1alpha1.AnnotationAllowedServers: "other, exfil"}
			if err := apiClient.Patch(ctx, sec, patch); err != nil {
				t.Fatal(err)
			}
			annotate(t, us, "test.mcpproxy.dev/poke", "1")
			testenv.Eventually(t, 30*time.Second, "the server past ConfigInvalid", func() (bool, string) {
				cur := get(t, us)
				c := condition(cur, mcpv1alpha1.ConditionAuthenticated)
				if c == nil || c.Reason == mcpv1alpha1.ReasonConfigInvalid {
					return false, describe(cur)
				}
				if tc.used != nil {
					return tc.used(t, us, rec)
				}
				return true, ""
			})
			t.Logf("after the opt-in: %s", describe(get(t, us)))
		})
	}
}

// serverCreatorWithoutSecrets binds user in ns to a Role that may create, get and list
// UpstreamServers and nothing else (no Secrets), and returns a client acting as them.
func serverCreatorWithoutSecrets(t *testing.T, ns, user string) client.Client {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "server-creator", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			Verbs: []string{"create", "get", "list"}}}}
	for _, o := range []client.Object{role, roleBinding(ns, "Role", role.Name, user)} {
		if err := apiClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	c := testenv.ClientAs(t, user)
	testenv.Eventually(t, 10*time.Second, user+"'s Role in force", func() (bool, string) {
		err := c.List(ctx, &mcpv1alpha1.UpstreamServerList{}, client.InNamespace(ns))
		return err == nil, "listing UpstreamServers: " + errString(err)
	})
	return c
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
