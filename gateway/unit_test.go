package gateway

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func TestToolName(t *testing.T) {
	long := strings.Repeat("x", 200)
	for name, c := range map[string]struct{ ns, server, tool, want string }{
		"plain":       {"team-a", "github", "create_issue", "team-a.github.create_issue"},
		"dotted":      {"team-a", "gh.example", "a.b", "team-a.gh.example.a.b"},
		"bad chars":   {"ns", "srv", "read file/now", "ns.srv.read_file_now"},
		"unicode":     {"ns", "srv", "héllo", "ns.srv.h_llo"},
		"long is cut": {"ns", "srv", long, ""},
	} {
		got := ToolName(c.ns, c.server, c.tool)
		if c.want != "" && got != c.want {
			t.Errorf("%s: ToolName = %q, want %q", name, got, c.want)
		}
		if len(got) > MaxToolNameLength || sanitizeToolName(got) != got {
			t.Errorf("%s: %q breaks the MCP tool name rules", name, got)
		}
	}
	if ToolName("ns", "srv", long) == ToolName("ns", "srv", long+"y") {
		t.Error("two long names collide")
	}
	if hashedToolName("ns", "srv", "a b") == hashedToolName("ns", "srv", "a_b") {
		t.Error("hashed names of tools that sanitize alike collide")
	}
}

func TestTTLCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := newTTLCache[string, int](time.Second, 2)
	c.now = func() time.Time { return now }
	c.put("a", 1)
	c.put("b", 2)
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	c.put("c", 3) // evicts b
	if _, ok := c.get("b"); ok || c.len() != 2 {
		t.Fatalf("LRU eviction: b present=%v len=%d", ok, c.len())
	}
	now = now.Add(time.Second)
	if _, ok := c.get("a"); ok {
		t.Fatal("an expired entry was returned")
	}
}

func TestEndpointRewriter(t *testing.T) {
	g := &Gateway{}
	u := newUpstreams(g)
	us := &mcpv1alpha1.UpstreamServer{}
	us.Namespace, us.Name, us.Spec.URL = "ns", "legacy", "http://up.example:8080/sse"
	stream, _ := url.Parse(us.Spec.URL)
	in := "event: endpoint\r\ndata: /sse?sessionid=abc\r\n\r\n" +
		"event: message\ndata: {\"endpoint\":\"/sse\"}\n\n" +
		"event: endpoint\ndata: http://up.example:8080/messages?sessionid=def\n\n" +
		"event: endpoint\ndata: http://evil.example/steal\n\n"
	r := newEndpointRewriter(io.NopCloser(strings.NewReader(in)), func(d string) string { return u.rewriteEndpoint(us, stream, d) })
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := "event: endpoint\r\ndata: /servers/ns/legacy/mcp?sessionid=abc\r\n\r\n" +
		"event: message\ndata: {\"endpoint\":\"/sse\"}\n\n" +
		"event: endpoint\ndata: /servers/ns/legacy/mcp/sse-endpoint/messages?sessionid=def\n\n" +
		"event: endpoint\ndata: /servers/ns/legacy/mcp/sse-endpoint/refused\n\n"
	if string(out) != want {
		t.Fatalf("rewritten stream:\n%q\nwant\n%q", out, want)
	}
	nn := types.NamespacedName{Namespace: "ns", Name: "legacy"}
	if !u.endpointKnown(nn, "/messages") || u.endpointKnown(nn, "/steal") || u.endpointKnown(nn, "/refused") {
		t.Fatal("the known SSE message endpoints are wrong")
	}
}

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason + " message"}
	}
	next := metav1.NewTime(now.Add(42 * time.Second))
	connected := cond(mcpv1alpha1.ConditionConnected, metav1.ConditionTrue, "Connected")
	for name, c := range map[string]struct {
		us         mcpv1alpha1.UpstreamServer
		usable     bool
		code       int // 0: forwarded
		retryAfter time.Duration
		contains   string
	}{
		"ready": {us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, "Ready"), connected}}}},
		"status lags a usable token": {usable: true, us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, "NoToken"), connected}}}},
		"usable token, never connected": {usable: true, code: CodeNotReady, retryAfter: 5 * time.Second, contains: "not connected to its current spec.url"},
		"connected for an older spec": {usable: true, us: mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
				cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, "Ready"), connected}}},
			code: CodeNotReady, retryAfter: 5 * time.Second, contains: "current spec.url"},
		"suspended": {usable: true, us: mcpv1alpha1.UpstreamServer{Spec: mcpv1alpha1.UpstreamServerSpec{Suspend: true}},
			code: CodeNotReady, contains: "suspend"},
		"login needed": {us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{
			Conditions:    []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, "NoToken")},
			Authorization: &mcpv1alpha1.AuthorizationStatus{LoginCommand: "mcpproxy auth login s -n ns"}}},
			code: CodeAuthorizationRequired, contains: "run `mcpproxy auth login s -n ns`"},
		"backing off": {us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{
			Conditions: []metav1.Condition{cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "RefreshFailing")},
			Refresh:    &mcpv1alpha1.RefreshStatus{FailedAttempts: 2, NextRefreshTime: &next, LastFailureReason: "HTTP 503"}}},
			code: CodeNotReady, retryAfter: 42 * time.Second, contains: "2 refresh attempts failed (last: HTTP 503)"},
		"not reconciled": {code: CodeNotReady, retryAfter: 5 * time.Second, contains: "not ready yet"},
		"public server": {us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionAuthenticated, metav1.ConditionTrue, "NoAuthRequired"), connected}}}},
		// A static-header (or public) server is Authenticated without any session: not forwarded.
		"public server that never connected": {us: mcpv1alpha1.UpstreamServer{Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionAuthenticated, metav1.ConditionTrue, "NoAuthRequired"),
			cond(mcpv1alpha1.ConditionConnected, metav1.ConditionFalse, "ConnectFailed"),
			cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, "ConnectFailed")}}},
			code: CodeNotReady, contains: "is not connected (ConnectFailed)"},
	} {
		c.us.Namespace, c.us.Name = "ns", "s"
		nr := readiness(&c.us, c.usable, now)
		switch {
		case c.code == 0 && nr != nil:
			t.Errorf("%s: refused (%s), want forwarded", name, nr.msg)
		case c.code != 0 && nr == nil:
			t.Errorf("%s: forwarded, want code %d", name, c.code)
		case c.code != 0 && (nr.code != c.code || nr.status != http.StatusServiceUnavailable || nr.retryAfter != c.retryAfter || !strings.Contains(nr.msg, c.contains)):
			t.Errorf("%s: got %d %d retryAfter=%s %q", name, nr.status, nr.code, nr.retryAfter, nr.msg)
		}
	}
}

func TestRPCIDOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"jsonrpc":"2.0","id":7,"method":"x"}`:   "7",
		`{"jsonrpc":"2.0","id":"a","method":"x"}`: `"a"`,
		`[{"jsonrpc":"2.0","id":1,"method":"x"}]`: "",
		`{"jsonrpc":"2.0","method":"notify"}`:     "",
		`not json`:                                "",
	} {
		if got := string(rpcIDOf([]byte(body))); got != want {
			t.Errorf("rpcIDOf(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestCatalogIgnoresRoutineRefreshes(t *testing.T) {
	base := &mcpv1alpha1.UpstreamServer{}
	base.Spec.URL = "http://127.0.0.1:1/mcp"
	base.Status.Conditions = []metav1.Condition{{Type: mcpv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
	base.Status.Server = &mcpv1alpha1.ServerInfo{Tools: 3}
	refreshed := base.DeepCopy()
	refreshed.Status.LastCorrelationID = "new"
	notReady := base.DeepCopy()
	notReady.Status.Conditions[0].Status = metav1.ConditionFalse
	moreTools := base.DeepCopy()
	moreTools.Status.Server.Tools = 4
	cases := map[string]struct {
		n    *mcpv1alpha1.UpstreamServer
		want bool
	}{"routine refresh": {refreshed, false}, "readiness": {notReady, true}, "tool count": {moreTools, true}}
	for name, tc := range cases {
		if got := catalogChanged(base, tc.n); got != tc.want {
			t.Errorf("%s: catalogChanged = %t, want %t", name, got, tc.want)
		}
	}
}
