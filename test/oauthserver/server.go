package oauthserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is one authorization server plus the MCP resource server it
// protects. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	signer *signer
	mcp    http.Handler // the MCP handlers behind authentication
	sse    http.Handler

	mu       sync.Mutex
	baseURL  string // scheme://host:port, no trailing slash
	clients  map[string]*client
	codes    map[string]*authCode
	consents map[string]*authRequest // pending consent pages by form ID
	grants   map[string]*grant
	refresh  map[string]*refreshToken
	access   map[string]string // access token jti → grant ID
	issued   []string
	stats    Stats
	faults   []Fault
	outage   OutageMode
	outUntil time.Time                         // zero: until cleared
	ttlFunc  func(now time.Time) time.Duration // SetAccessTokenTTL; nil: AccessTokenTTL

	httpServer *http.Server
	closed     chan struct{}
	closeOnce  sync.Once
}

// New returns a server configured by opts. It does not listen until Start;
// use Handler with Options.BaseURL to serve it yourself.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts.withDefaults(),
		signer:  newSigner(),
		baseURL: strings.TrimSuffix(opts.BaseURL, "/"),
		closed:  make(chan struct{}),
	}
	s.opts.IssuerPath = "/" + strings.Trim(s.opts.IssuerPath, "/")
	if s.opts.IssuerPath == "/" {
		s.opts.IssuerPath = ""
	}
	s.resetLocked()
	// Pre-registered secrets were not minted here, but a test asserting
	// that no secret leaked wants them checked too.
	for _, secret := range s.opts.Clients {
		if secret != "" {
			s.issued = append(s.issued, secret)
		}
	}
	s.mcp, s.sse = s.newMCPHandlers()
	return s
}

// Start listens on addr (use "127.0.0.1:0" in tests) and serves in the
// background until Close. Unless Options.BaseURL is set, the base URL
// becomes http://<listen address>.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.baseURL == "" {
		s.baseURL = "http://" + ln.Addr().String()
	}
	s.httpServer = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpServer
	s.mu.Unlock()
	s.opts.Logger.Info("Started OAuth test server", "url", s.URL(), "issuer", s.Issuer())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("Stopped serving", "err", err)
		}
	}()
	return nil
}

// Close stops the listener and cuts open connections at once, including
// hanging SSE streams and injected slow answers: a test server owes its
// clients no graceful drain.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	srv := s.httpServer
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// URL is the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Issuer is the exact issuer identifier: URL plus IssuerPath.
func (s *Server) Issuer() string { return s.URL() + s.opts.IssuerPath }

// MCPURL is the Streamable HTTP MCP endpoint. It is also its resource
// identifier, except in PRMRoot mode; see Resource.
func (s *Server) MCPURL() string { return s.URL() + "/mcp" }

// Resource is the resource identifier the metadata advertises for /mcp,
// the audience clients should ask for: MCPURL, or URL in PRMRoot mode,
// where the root metadata document describes the whole origin.
func (s *Server) Resource() string { return s.resourceID("/mcp") }

// SSEURL is the legacy SSE MCP endpoint, a resource of its own.
func (s *Server) SSEURL() string { return s.URL() + "/sse" }

// Handler serves every endpoint. It is what Start serves.
func (s *Server) Handler() http.Handler {
	ip := s.opts.IssuerPath
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+ip, s.handleASMetadata)
	mux.HandleFunc("GET /.well-known/openid-configuration"+ip, s.handleASMetadata)
	mux.HandleFunc("GET "+ip+"/jwks", s.handleJWKS)
	mux.HandleFunc("GET "+ip+"/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+ip+"/authorize", s.handleConsent)
	mux.HandleFunc("POST "+ip+"/token", s.handleToken)
	mux.HandleFunc("POST "+ip+"/revoke", s.handleRevoke)
	if !s.opts.NoDCR {
		mux.HandleFunc("POST "+ip+"/register", s.handleRegister)
	}
	for _, res := range []string{"/mcp", "/sse"} {
		mux.HandleFunc("GET "+s.prmPath(res), s.handlePRM(res))
	}
	mux.Handle("/mcp", s.protect("/mcp", s.mcp))
	mux.Handle("/sse", s.protect("/sse", s.sse))
	s.adminRoutes(mux)
	return s.logRequests(mux)
}

// now reads the injected clock.
func (s *Server) now() time.Time { return s.opts.Now() }

// statusRecorder remembers the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and Hijack, which SSE
// streams and dropped connections need.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush is needed by the SDK's SSE writer, which asserts http.Flusher.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logRequests logs method, path and status. It logs the path only: query
// strings carry codes and state, and headers carry tokens.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.opts.Logger.Debug("Served request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	})
}
