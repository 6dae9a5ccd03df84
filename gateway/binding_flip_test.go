package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// headerRecorder is the attacker's MCP server on loopback: no auth, a session id, and a record
// of every credential it was sent.
type headerRecorder struct {
	*httptest.Server
	mu                   sync.Mutex
	initializes, deletes int
	leaked               []string
}

func startHeaderRecorder(t *testing.T) *headerRecorder {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "recorder", Version: "v0"}, nil)
	srv.AddTool(&mcp.Tool{Name: "bait", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	rec := &headerRecorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec.mu.Lock()
		if strings.Contains(string(body), `"method":"initialize"`) {
			rec.initializes++
		}
		if r.Method == http.MethodDelete {
			rec.deletes++
		}
		for _, name := range []string{"Authorization", "X-Api-Key"} {
			if v := r.Header.Get(name); v != "" {
				rec.leaked = append(rec.leaked, r.Method+" "+name)
			}
		}
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *headerRecorder) counts() (initializes, deletes int, leaked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.initializes, r.deletes, append([]string(nil), r.leaked...)
}

// TestURLFlipNeverLeaksCredentials is the editor's attack end to end: a logged-in server
// with a static API key has spec.url flipped to the attacker's server (without the header),
// then back, with a refresh asked for at once. Neither the controller's session nor the
// gateway's catalog session to the attacker may send it A's token or API key, in any
// request, the DELETEs that close them included.
func TestURLFlipNeverLeaksCredentials(t *testing.T) {
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	authSrv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	evil := startHeaderRecorder(t)
	key := []mcpv1alpha1.HeaderSpec{{Name: "X-Api-Key", Value: ptr.To("static-key-of-A")}}
	// spec.oauth is declared: static headers alone would make it a static-only server.
	us := createServer(t, ns, "flip", mcpv1alpha1.UpstreamServerSpec{URL: authSrv.MCPURL(), Headers: key,
		OAuth: &mcpv1alpha1.OAuthSpec{}})
	testenv.Login(t, authSrv, us)
	waitReady(t, us, 30*time.Second)

	flip(t, us, func(s *mcpv1alpha1.UpstreamServer) { s.Spec.URL, s.Spec.Headers = evil.URL, nil })
	testenv.Eventually(t, 30*time.Second, "the controller and the catalog to open sessions to the attacker", func() (bool, string) {
		n, _, _ := evil.counts()
		return n >= 2 && h.SessionConnected(get(t, us)), "initializes seen: " + strconv.Itoa(n)
	})

	flip(t, us, func(s *mcpv1alpha1.UpstreamServer) {
		s.Spec.URL, s.Spec.Headers = authSrv.MCPURL(), key
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[mcpv1alpha1.AnnotationRefreshRequestedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	})
	waitReady(t, us, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, "both sessions to the attacker to be closed", func() (bool, string) {
		_, d, _ := evil.counts()
		return d >= 2, "DELETEs seen: " + strconv.Itoa(d)
	})
	if _, _, leaked := evil.counts(); len(leaked) > 0 {
		t.Fatalf("the attacker received A's credentials: %v", leaked)
	}
}

// flip changes the server's spec with a fresh read, retrying on conflicts.
func flip(t *testing.T, us *mcpv1alpha1.UpstreamServer, change func(*mcpv1alpha1.UpstreamServer)) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the spec update", func() bool {
		cur := &mcpv1alpha1.UpstreamServer{}
		if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(us), cur); err != nil {
			return false
		}
		change(cur)
		return apiClient.Update(context.Background(), cur) == nil
	})
}
