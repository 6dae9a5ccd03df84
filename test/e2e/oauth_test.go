package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// oauthProc is a running test/oauthserver binary: authorization server and MCP server.
type oauthProc struct {
	*proc.Process
	base, mcp string
}

var (
	issuedMu sync.Mutex
	// issued collects /admin/issued of every OAuth server of the run, for the leak check. It is
	// kept in memory only, never written anywhere.
	issued []string
)

var (
	mcpLine   = regexp.MustCompile(`(?m)^mcp:\s+(\S+)`)
	adminLine = regexp.MustCompile(`(?m)^admin:\s+(\S+)/admin/stats`)
)

// startOAuth starts an OAuth test server on a free loopback port with the given flags. It is
// stopped, after its issued secrets were collected, when the test ends.
func startOAuth(t *testing.T, name string, flags ...string) *oauthProc {
	t.Helper()
	p := startProc(t, "oauthserver-"+name, nil, bins.oauth, append([]string{"-port", "0", "-auto-approve"}, flags...)...)
	o := &oauthProc{Process: p}
	testenv.Eventually(t, 20*time.Second, "the OAuth server "+name+" prints its URLs", func() (bool, string) {
		out := p.Log()
		m, a := mcpLine.FindStringSubmatch(out), adminLine.FindStringSubmatch(out)
		if m == nil || a == nil {
			return p.Exited(), out
		}
		o.mcp, o.base = m[1], a[1]
		return true, ""
	})
	if o.mcp == "" {
		t.Fatalf("OAuth server %s exited: %s", name, p.Log())
	}
	t.Cleanup(func() {
		if sec, err := o.issuedSecrets(); err == nil {
			issuedMu.Lock()
			issued = append(issued, sec...)
			issuedMu.Unlock()
		} else {
			t.Errorf("collecting issued secrets of %s: %v", name, err)
		}
		stopProc(p)
	})
	return o
}

var adminClient = &http.Client{Timeout: 10 * time.Second}

func (o *oauthProc) getJSON(path string, v any) error {
	resp, err := adminClient.Get(o.base + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// stats reads /admin/stats.
func (o *oauthProc) stats(t *testing.T) oauthserver.Stats {
	t.Helper()
	var st oauthserver.Stats
	if err := o.getJSON("/admin/stats", &st); err != nil {
		t.Fatalf("reading oauth stats: %v", err)
	}
	return st
}

func (o *oauthProc) issuedSecrets() ([]string, error) {
	var s []string
	return s, o.getJSON("/admin/issued", &s)
}

// admin POSTs to an /admin/ endpoint.
func (o *oauthProc) admin(t *testing.T, path string, q url.Values) {
	t.Helper()
	resp, err := adminClient.PostForm(o.base+path, q)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// drainTokenFaults consumes whatever scripted faults are left by sending bogus token requests
// (each pops one fault before anything else is looked at) until one is not a 503. It returns
// how many it consumed.
func (o *oauthProc) drainTokenFaults(t *testing.T) int {
	t.Helper()
	for n := 0; n < 100000; n++ {
		resp, err := adminClient.PostForm(o.base+"/token", url.Values{"grant_type": {"e2e_drain"}})
		if err != nil {
			t.Fatalf("draining token faults: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return n
		}
	}
	t.Fatal("token faults never drained")
	return 0
}
