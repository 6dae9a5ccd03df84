package controllers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// hugeAnswerURL is a loopback MCP URL whose server lets every request through without a
// token and answers initialize with 1 GiB of JSON, generated as it is written (the test never
// holds it). It stops writing once stop closes.
func hugeAnswerURL(t *testing.T, stop <-chan struct{}) (string, *atomic.Int64) {
	t.Helper()
	var answers atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
		answers.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"`)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := 0; sent < 1<<30; sent += len(chunk) {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `","version":"v0"}}}`)
	}))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp", &answers
}

// One server answering initialize with 1 GiB costs the manager a bounded read, not its
// memory: the heap stays under 256 MiB, the server says which bound it crossed, and the other
// servers keep refreshing meanwhile.
func TestHugeAnswerLeavesTheManagerAndOtherServersUnharmed(t *testing.T) {
	const maxHeap = 256 << 20
	stop := make(chan struct{})
	var peak atomic.Uint64
	watchDone := make(chan struct{})
	go func() { // samples the heap of this process, where the manager runs
		defer close(watchDone)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if h := max(ms.HeapInuse, ms.HeapAlloc); h > peak.Load() {
				peak.Store(h)
				if h > maxHeap {
					close(stop) // stop feeding an unbounded reader before the machine runs out
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-watchDone
	})

	a := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	b := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	hugeURL, answers := hugeAnswerURL(t, stop)
	huge := createServer(t, ns, "huge", hugeURL)
	servers := []*mcpv1alpha1.UpstreamServer{createServer(t, ns, "alpha", a.MCPURL()), createServer(t, ns, "beta", b.MCPURL())}
	testenv.Login(t, a, servers[0])
	testenv.Login(t, b, servers[1])
	for _, us := range servers {
		waitReady(t, us, 30*time.Second)
	}
	testenv.Eventually(t, 60*time.Second, "the huge server's bound named", func() (bool, string) {
		cur := get(t, huge)
		c := condition(cur, mcpv1alpha1.ConditionConnected)
		return c != nil && c.Reason == mcpv1alpha1.ReasonLimitExceeded && strings.Contains(c.Message, "response body"), describe(cur)
	})

	// The others refresh on plan while the huge server is dialled again and again.
	a0, b0, n0 := a.Stats().Refreshes, b.Stats().Refreshes, answers.Load()
	testenv.Eventually(t, 30*time.Second, "two more refreshes of each other server", func() bool {
		return a.Stats().Refreshes-a0 >= 2 && b.Stats().Refreshes-b0 >= 2
	})
	for _, us := range servers {
		if cur := get(t, us); !isReady(cur) || needsLogin(cur, "") {
			t.Fatalf("%s is not Ready: %s", us.Name, describe(cur))
		}
	}
	if p := peak.Load(); p > maxHeap {
		t.Fatalf("the heap peaked at %d MiB (bound %d MiB): the huge answer was read unbounded", p>>20, maxHeap>>20)
	}
	t.Logf("heap peak %d MiB; the huge server answered %d times during the refreshes", peak.Load()>>20, answers.Load()-n0)
}
