package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// startAS starts the shared test authorization + MCP server.
func startAS(t *testing.T, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	srv := oauthserver.New(opts)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting oauthserver: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// browser plays the user: it approves at srv and delivers the redirect to the callback.
func browser(srv *oauthserver.Server) func(string) error {
	return func(authURL string) error {
		loc, err := srv.FollowAuthorize(authURL)
		if err != nil {
			return err
		}
		return deliver(loc.String())
	}
}

// deliver GETs a callback URL like a browser would.
func deliver(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// fixedNow is the injected clock of tests that check expiry.
var fixedNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// recorder is an httptest server whose handlers are set per path and which records
// every path requested, to check discovery order.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	paths    []string
	handlers map[string]http.HandlerFunc
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{handlers: map[string]http.HandlerFunc{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		h := r.handlers[req.URL.Path]
		r.mu.Unlock()
		if h == nil {
			http.NotFound(w, req)
			return
		}
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// handle sets the handler of path.
func (r *recorder) handle(path string, h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[path] = h
}

// json serves v at path.
func (r *recorder) json(path string, v any) { r.handle(path, jsonHandler(http.StatusOK, v)) }

// requested returns the paths requested so far.
func (r *recorder) requested() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

func jsonHandler(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

// challenge401 answers the MCP probe with a Bearer challenge.
func challenge401(header string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", header)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}
}

// asDoc is a minimal valid authorization server metadata document for issuer.
func asDoc(issuer string) map[string]any {
	return map[string]any{
		"issuer":                           issuer,
		"authorization_endpoint":           issuer + "/authorize",
		"token_endpoint":                   issuer + "/token",
		"registration_endpoint":            issuer + "/register",
		"code_challenge_methods_supported": []string{"S256"},
	}
}
