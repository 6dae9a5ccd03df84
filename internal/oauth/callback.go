package oauth

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// callbackPath is the single path the loopback listener answers.
const callbackPath = "/callback"

// callbackResult is the outcome of the one authorization response the listener accepts.
type callbackResult struct {
	Code string
	Err  error
}

// callbackServer is a loopback HTTP listener that accepts exactly one authorization
// response on callbackPath, answers the browser with a short page and then stops.
type callbackServer struct {
	ln       net.Listener
	srv      *http.Server
	results  chan callbackResult
	once     sync.Once
	stopOnce sync.Once
	validate func(q map[string][]string) (string, error)
}

// startCallback listens on 127.0.0.1:port. With port 0 it first tries preferred (the
// port of a previous registration's redirect URI, so the registration stays valid), then
// a random port.
// validate turns the callback's query into a code or an error.
func startCallback(port, preferred int, validate func(q map[string][]string) (string, error)) (*callbackServer, error) {
	var ln net.Listener
	var err error
	if port == 0 && preferred > 0 {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(preferred)))
	}
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: starting callback listener: %w", err)
	}
	c := &callbackServer{ln: ln, results: make(chan callbackResult, 1), validate: validate}
	mux := http.NewServeMux()
	mux.HandleFunc(callbackPath, c.handle)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// RedirectURI is the redirect URI served by this listener.
func (c *callbackServer) RedirectURI() string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.ln.Addr().(*net.TCPAddr).Port, callbackPath)
}

// handle accepts the first request on the callback path as the result; later ones only
// get a page saying the login was already handled.
func (c *callbackServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != callbackPath {
		http.NotFound(w, r)
		return
	}
	first := false
	var res callbackResult
	c.once.Do(func() {
		first = true
		res.Code, res.Err = c.validate(r.URL.Query())
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch {
	case !first:
		w.WriteHeader(http.StatusConflict)
		writePage(w, "Login already handled", "This login attempt has already finished. You can close this window.")
	case res.Err != nil:
		w.WriteHeader(http.StatusBadRequest)
		writePage(w, "Login failed", "The login did not complete: "+Redact(res.Err.Error())+". Return to the terminal.")
	default:
		writePage(w, "Login complete", "You are logged in. You can close this window and return to the terminal.")
	}
	if first {
		c.results <- res
	}
}

// writePage writes a minimal HTML page with escaped text.
func writePage(w http.ResponseWriter, title, text string) {
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"+
		"<body><h1>%s</h1><p>%s</p></body></html>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// wait returns the result, ErrLoginTimeout after timeout, or the context's error.
func (c *callbackServer) wait(ctx context.Context, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case res := <-c.results:
		return res.Code, res.Err
	case <-timer.C:
		return "", fmt.Errorf("oauth: no callback within %s: %w", timeout, ErrLoginTimeout)
	case <-ctx.Done():
		return "", fmt.Errorf("oauth: waiting for the authorization callback: %w", ctx.Err())
	}
}

// Close stops the listener, letting an in-flight page finish. It is idempotent.
func (c *callbackServer) Close() {
	c.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = c.srv.Close()
		}
	})
}
