package oauthserver

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// loginAs runs the code flow with login_hint user (none when empty) and returns the
// token response.
func loginAs(t *testing.T, s *Server, c testClient, user string) map[string]any {
	t.Helper()
	v, ch := pkcePair()
	q := authParams(s, c, ch)
	if user != "" {
		q.Set("login_hint", user)
	}
	return exchange(t, s, c, getCode(t, s, c, q), v)
}

// exchange redeems code with verifier v.
func exchange(t *testing.T, s *Server, c testClient, code, v string) map[string]any {
	t.Helper()
	status, body, _ := tokenRequest(t, s, c, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange: status %d body %v", status, body)
	}
	return body
}

// whoamiOf calls the whoami tool with token and returns its text and structured subject,
// failing unless they agree.
func whoamiOf(t *testing.T, s *Server, token string) string {
	t.Helper()
	res, err := callTool(t, connect(t, "streamable", s.MCPURL(), token), "whoami", nil)
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("whoami: %v %s", err, mustJSON(res))
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("whoami content %s, want one text", mustJSON(res.Content))
	}
	var id identity
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &id); err != nil || id.Subject != text.Text {
		t.Fatalf("whoami text %q, structured %s: they disagree", text.Text, raw)
	}
	return text.Text
}

// Two logins as different users: each token, and each token refreshed (with rotation) from
// it, reaches the MCP server as its own user.
func TestUsersKeepTheirTokensAcrossRefreshes(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	tokens := map[string]map[string]any{"alice": loginAs(t, s, c, "alice")}
	// The other login goes through FollowAuthorizeAs, overriding the client's hint.
	v, ch := pkcePair()
	q := authParams(s, c, ch)
	q.Set("login_hint", "mallory")
	loc, err := s.FollowAuthorizeAs(authURL(s, q), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tokens["bob@example.com"] = exchange(t, s, c, loc.Query().Get("code"), v)

	for round := range 3 {
		for user, tok := range tokens {
			if got := whoamiOf(t, s, tok["access_token"].(string)); got != user {
				t.Fatalf("round %d: whoami with %s's token = %q", round, user, got)
			}
			status, body := refresh(t, s, c, tok["refresh_token"].(string))
			if status != http.StatusOK || body["refresh_token"] == tok["refresh_token"] {
				t.Fatalf("round %d: refreshing %s's token: %d %v, want a rotated token", round, user, status, body)
			}
			tokens[user] = body
		}
	}
	st := s.Stats()
	want := UserStats{Authorizations: 1, AccessTokens: 4, RefreshTokens: 4, Refreshes: 3}
	for user := range tokens {
		got := st.Users[user]
		// Connecting takes several requests; at least the three whoami calls count.
		if got.MCPValidToken < 3 {
			t.Errorf("%s: %d MCP requests counted, want at least 3", user, got.MCPValidToken)
		}
		got.MCPValidToken = 0
		if got != want {
			t.Errorf("%s: stats %+v, want %+v", user, got, want)
		}
	}
	if _, ok := st.Users["mallory"]; ok || len(st.Users) != 2 || st.RefreshReuseDetected != 0 {
		t.Errorf("stats %+v, want alice and bob only, no refresh reuse", st)
	}
	// The admin API serves the same per-user counters.
	resp, err := http.Get(s.URL() + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served Stats
	if err := json.NewDecoder(resp.Body).Decode(&served); err != nil || served.Users["alice"].Refreshes != 3 {
		t.Fatalf("/admin/stats: %v, users %+v", err, served.Users)
	}
}

// Without login_hint a grant is the default user's: Options.Subject, else test-user.
func TestDefaultUser(t *testing.T) {
	for want, opts := range map[string]Options{
		"test-user": {AutoApprove: true},
		"demo-user": {AutoApprove: true, Subject: "demo-user"},
	} {
		t.Run(want, func(t *testing.T) {
			s := start(t, opts)
			c := register(t, s, "none")
			tok := loginAs(t, s, c, "")
			if got := whoamiOf(t, s, tok["access_token"].(string)); got != want {
				t.Fatalf("whoami = %q, want %q", got, want)
			}
			_, body := refresh(t, s, c, tok["refresh_token"].(string))
			if got := whoamiOf(t, s, body["access_token"].(string)); got != want {
				t.Fatalf("whoami after a refresh = %q, want %q", got, want)
			}
		})
	}
}

var userFieldRe = regexp.MustCompile(`<input type="text" name="user" value="([^"]*)"`)

// The consent page has a user field, filled in with login_hint or the default user; what
// the form posts in it is whom the grant is for.
func TestConsentFormUser(t *testing.T) {
	s := start(t, Options{})
	c := register(t, s, "none")
	tests := map[string]struct {
		hint      string
		post      *string // the user field as posted; nil leaves it out
		wantField string  // the field's value on the page
		want      string
	}{
		"typed in":           {post: ptr("carol"), wantField: "test-user", want: "carol"},
		"typed over a hint":  {hint: "alice", post: ptr("dave"), wantField: "alice", want: "dave"},
		"left as filled in":  {hint: "alice", post: ptr("alice"), wantField: "alice", want: "alice"},
		"blank":              {hint: "alice", post: ptr("  "), wantField: "alice", want: "alice"},
		"not posted":         {hint: "<b>", wantField: "<b>", want: "<b>"},
		"not posted no hint": {wantField: "test-user", want: "test-user"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ch := pkcePair()
			q := authParams(s, c, ch)
			if tc.hint != "" {
				q.Set("login_hint", tc.hint)
			}
			u := authURL(s, q)
			resp, err := noRedirect.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := userFieldRe.FindStringSubmatch(string(page))
			if m == nil || html.UnescapeString(m[1]) != tc.wantField {
				t.Fatalf("user field %q, want %q, in %s", m, tc.wantField, page)
			}
			form := url.Values{"consent_id": {consentIDRe.FindStringSubmatch(string(page))[1]}, "decision": {"approve"}}
			if tc.post != nil {
				form.Set("user", *tc.post)
			}
			resp, err = noRedirect.PostForm(u, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("no redirect after consent: %d", resp.StatusCode)
			}
			tok := exchange(t, s, c, loc.Query().Get("code"), v)
			if got := whoamiOf(t, s, tok["access_token"].(string)); got != tc.want {
				t.Fatalf("whoami = %q, want %q", got, tc.want)
			}
		})
	}
}

// FollowAuthorize submits the consent page as filled in (login_hint, else the default
// user); FollowAuthorizeAs types its user in.
func TestFollowAuthorizeUsers(t *testing.T) {
	s := start(t, Options{})
	c := register(t, s, "none")
	for _, tc := range []struct{ hint, as, want string }{
		{"", "", "test-user"},
		{"alice", "", "alice"},
		{"alice", "erin", "erin"},
		{"", "frank", "frank"},
	} {
		v, ch := pkcePair()
		q := authParams(s, c, ch)
		if tc.hint != "" {
			q.Set("login_hint", tc.hint)
		}
		loc, err := s.FollowAuthorizeAs(authURL(s, q), tc.as)
		if err != nil {
			t.Fatal(err)
		}
		tok := exchange(t, s, c, loc.Query().Get("code"), v)
		if got := whoamiOf(t, s, tok["access_token"].(string)); got != tc.want {
			t.Errorf("hint %q, as %q: whoami = %q, want %q", tc.hint, tc.as, got, tc.want)
		}
	}
}

// A user name that is empty after trimming, too long or has control characters is refused:
// login_hint with an error redirect, the consent field with an error page.
func TestInvalidUserNames(t *testing.T) {
	bad := []string{"a\nb", "tab\there", strings.Repeat("x", maxUserLen+1), " padded", "\xff"}
	t.Run("login_hint", func(t *testing.T) {
		s := start(t, Options{AutoApprove: true})
		c := register(t, s, "none")
		for _, user := range bad {
			_, ch := pkcePair()
			q := authParams(s, c, ch)
			q.Set("login_hint", user)
			loc, err := s.FollowAuthorize(authURL(s, q))
			if err != nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
				t.Errorf("login_hint %q: %v %v, want invalid_request", user, loc, err)
			}
		}
	})
	t.Run("consent field", func(t *testing.T) {
		s := start(t, Options{})
		c := register(t, s, "none")
		for _, user := range append(bad[:3], bad[4]) { // the form trims surrounding spaces
			_, ch := pkcePair()
			u := authURL(s, authParams(s, c, ch))
			resp, err := noRedirect.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp, err = noRedirect.PostForm(u, url.Values{
				"consent_id": {consentIDRe.FindStringSubmatch(string(page))[1]}, "decision": {"approve"}, "user": {user},
			})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("user %q: HTTP %d Location %q, want a 400 page", user, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if st := s.Stats(); st.Authorizations != 0 {
			t.Fatalf("stats %+v, want no authorization", st)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// A Streamable HTTP session belongs to the user whose token opened it: another user's
// token on it is refused (the SDK's session binding), so a client cannot share one session
// among users' credentials.
func TestSessionBelongsToItsUser(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	alice := loginAs(t, s, c, "alice")["access_token"].(string)
	bob := loginAs(t, s, c, "bob")["access_token"].(string)
	sid := mcpPost(t, s.MCPURL(), alice, "").Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("initialize opened no session")
	}
	for token, want := range map[string]int{bob: http.StatusForbidden, alice: http.StatusAccepted} {
		req, _ := http.NewRequest(http.MethodPost, s.MCPURL(), strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Mcp-Session-Id", sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("alice's session with %s's token: HTTP %d, want %d", map[string]string{alice: "alice", bob: "bob"}[token], resp.StatusCode, want)
		}
	}
}
