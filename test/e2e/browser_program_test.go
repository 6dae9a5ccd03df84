package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the $BROWSER program: with browserModeEnv set, TestMain runs
// browserMain instead of the tests. It appends one JSON line per open to browserLogEnv and, in
// follow mode, plays the user: it GETs the authorization URL and follows the redirects to the
// client's loopback callback (the OAuth servers run with -auto-approve).
const (
	browserModeEnv  = "E2E_BROWSER_MODE" // "record" or "follow"
	browserLogEnv   = "E2E_BROWSER_LOG"
	browserDelayEnv = "E2E_BROWSER_DELAY" // wait this long before following, e.g. "2s"
)

// browserOpen is one recorded open. Only the non-secret parameters of the URL are kept.
type browserOpen struct {
	At        time.Time `json:"at"`
	Resource  string    `json:"resource"`
	ClientID  string    `json:"clientID"`
	LoginHint string    `json:"loginHint,omitempty"` // the upstream user asked for (OIDC login_hint)
	Followed  string    `json:"followed,omitempty"`  // "ok" or why following failed
}

func browserMain(mode string) int {
	if len(os.Args) < 2 {
		return 2
	}
	u, err := url.Parse(os.Args[len(os.Args)-1])
	if err != nil {
		return 2
	}
	q := u.Query()
	rec := browserOpen{At: time.Now(), Resource: q.Get("resource"), ClientID: q.Get("client_id"), LoginHint: q.Get("login_hint")}
	appendOpen(rec)
	if mode != "follow" {
		return 0
	}
	if d, err := time.ParseDuration(os.Getenv(browserDelayEnv)); err == nil {
		time.Sleep(d)
	}
	rec.Followed = "ok"
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Get(u.String())
	switch {
	case err != nil:
		rec.Followed = "error: " + redactURLs(err.Error())
	default:
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			rec.Followed = "HTTP " + resp.Status
		}
	}
	rec.At = time.Now()
	appendOpen(rec)
	if rec.Followed != "ok" {
		return 1
	}
	return 0
}

// redactURLs drops query strings (a callback URL carries the authorization code).
func redactURLs(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		if j := strings.Index(f, "?"); j >= 0 {
			fields[i] = f[:j] + "?…"
		}
	}
	return strings.Join(fields, " ")
}

func appendOpen(rec browserOpen) {
	path := os.Getenv(browserLogEnv)
	if path == "" {
		return
	}
	b, _ := json.Marshal(rec)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	_, _ = f.Write(append(b, '\n')) // one small O_APPEND write: lines never interleave
	_ = f.Close()
}

// browser is a $BROWSER for one process: its environment and its record file.
type browser struct {
	log string
	env []string
}

// newBrowser returns a $BROWSER that records every open and, when follow, completes the login
// after delay.
func newBrowser(t *testing.T, name string, follow bool, delay time.Duration) *browser {
	t.Helper()
	mode := "record"
	if follow {
		mode = "follow"
	}
	log := filepath.Join(runDir, "logs", "browser-"+name+".jsonl")
	return &browser{log: log, env: []string{
		"BROWSER=" + selfBin, browserModeEnv + "=" + mode, browserLogEnv + "=" + log,
		browserDelayEnv + "=" + delay.String(),
	}}
}

// opens lists the browser opens recorded so far (not the follow results).
func (b *browser) opens(t *testing.T) []browserOpen {
	t.Helper()
	data, err := os.ReadFile(b.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []browserOpen
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var o browserOpen
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("browser record %q: %v", line, err)
		}
		if o.Followed == "" {
			out = append(out, o)
		}
	}
	return out
}

// followFailures lists follow results other than ok.
func (b *browser) followFailures(t *testing.T) []string {
	t.Helper()
	data, _ := os.ReadFile(b.log)
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var o browserOpen
		if json.Unmarshal([]byte(line), &o) == nil && o.Followed != "" && o.Followed != "ok" {
			bad = append(bad, fmt.Sprintf("%s: %s", o.Resource, o.Followed))
		}
	}
	return bad
}
