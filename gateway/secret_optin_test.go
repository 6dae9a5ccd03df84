package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The gateway reads a header's Secret itself (uncached, per request but for a short cache), so it
// asks the Secret's consent itself too: once the Secret withdraws mcpproxy.dev/allowed-servers,
// the gateway answers ConfigInvalid and the key stops reaching the upstream, even while the
// controller, which has not looked again, still says Ready.
func TestGatewayRefusesASecretThatDoesNotAllowTheServer(t *testing.T) {
	const key = "gw-optin-key-71c0d9"
	var withKey atomic.Int32
	srv := mcp.NewServer(&mcp.Implementation{Name: "keyed", Version: "v1"}, nil)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != key {
			http.Error(w, "missing API key", http.StatusUnauthorized)
			return
		}
		withKey.Add(1)
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)

	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "apikey", Namespace: ns,
		Annotations: map[string]string{mcpv1alpha1.AnnotationAllowedServers: "keyed"}}, StringData: map[string]string{"key": key}}
	if err := apiClient.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	us := createServer(t, ns, "keyed", mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp", Headers: []mcpv1alpha1.HeaderSpec{{
		Name: "X-API-Key", ValueFrom: &mcpv1alpha1.HeaderValueSource{SecretKeyRef: mcpv1alpha1.SecretKeyReference{Name: "apikey", Key: "key"}}}}})
	waitReady(t, us, 30*time.Second)
	url := h.serverURL(us.Name)
	testenv.Eventually(t, 10*time.Second, "the gateway forwarding with the key", func() (bool, string) {
		status, _, body := rawPost(t, url, "", "", initializeBody)
		return status == http.StatusOK, string(body)
	})

	patch := client.MergeFrom(sec.DeepCopy())
	sec.Annotations = nil
	if err := apiClient.Patch(ctx, sec, patch); err != nil {
		t.Fatal(err)
	}
	want := `header X-API-Key: Secret ` + ns + `/apikey does not allow UpstreamServer "keyed" to use it; ` +
		`add the annotation mcpproxy.dev/allowed-servers=keyed (or "*" for every server in the namespace)`
	refused := func() (bool, string) {
		status, _, body := rawPost(t, url, "", "", initializeBody)
		var m struct {
			Error rpcError `json:"error"`
		}
		_ = json.Unmarshal(body, &m)
		if strings.Contains(string(body), key) {
			t.Fatalf("the key is in the gateway's answer: %s", body)
		}
		return status == http.StatusServiceUnavailable && m.Error.Code == CodeNotReady && m.Error.Data != nil &&
			m.Error.Data.Reason == mcpv1alpha1.ReasonConfigInvalid && strings.Contains(m.Error.Message, want), string(body)
	}
	// Until the gateway's header cache (seconds) runs out, it still sends the key it resolved.
	testenv.Eventually(t, 30*time.Second, "the gateway refusing the withdrawn Secret", refused)
	if !isReadyNow(get(t, us)) {
		t.Fatalf("the controller looked again: the test would not show the gateway's own check")
	}
	before := withKey.Load()
	if ok, body := refused(); !ok {
		t.Fatalf("a second request was not refused: %s", body)
	}
	if n := withKey.Load(); n != before {
		t.Fatalf("the upstream received the key %d more times after the Secret withdrew its consent", n-before)
	}
	if strings.Contains(h.logs.String(), key) {
		t.Fatal("the key is in the gateway's log")
	}
}
