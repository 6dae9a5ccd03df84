package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.MainOptions{}) }

// With --metrics-secure, metrics are served over TLS and every scrape is authenticated and
// authorized by the API server: no token gets 401, a ServiceAccount without the metrics-reader
// rule gets 403, one with it gets the metrics.
func TestSecureMetricsNeedAnAuthorizedToken(t *testing.T) {
	ns := testenv.NewNamespace(t, "metrics")
	addr := freeAddr(t)
	runManager(t, app.Options{Namespaces: []string{ns}, MetricsAddr: addr, MetricsSecure: true})

	reader := serviceAccountToken(t, ns, "scraper")
	stranger := serviceAccountToken(t, ns, "stranger")
	grantMetrics(t, ns, "scraper")
	url := "https://" + addr + "/metrics"
	testenv.Eventually(t, 30*time.Second, "the authorized scraper reads the metrics", func() (bool, string) {
		code, err := scrape(url, reader)
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %v", code, err)
	})
	for name, c := range map[string]struct {
		token string
		want  int
	}{"no token": {"", http.StatusUnauthorized}, "a token without the rule": {stranger, http.StatusForbidden}} {
		if code, err := scrape(url, c.token); code != c.want {
			t.Errorf("%s: HTTP %d (%v), want %d", name, code, err, c.want)
		}
	}
}

func scrape(url, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the manager's self-signed certificate
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func serviceAccountToken(t *testing.T, ns, name string) string {
	t.Helper()
	c := testenv.Current().Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := c.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := c.SubResource("token").Create(context.Background(), sa, tr); err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// grantMetrics binds the chart's metrics-reader rule (GET /metrics) to a ServiceAccount.
func grantMetrics(t *testing.T, ns, sa string) {
	t.Helper()
	c := testenv.Current().Client
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + ns},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}}}
	if err := c.Create(context.Background(), role); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), binding); err != nil {
		t.Fatal(err)
	}
}

// runManager starts a manager with o (a store of its own in a temp dir, unsynced; several per
// process) until the test ends.
func runManager(t *testing.T, o app.Options) {
	t.Helper()
	o.TokenStore, o.NoSync, o.SkipNameValidation = filepath.Join(t.TempDir(), "tokens.db"), true, true
	m, err := app.New(testenv.Current().Config, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
