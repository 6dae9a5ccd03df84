package lifecycle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// LoginAccepted reports the last hand-over a pass saw, whether or not a token is held, so a
// rejected (or planted) login is visible in status even while AuthorizationRequired is False.
func TestLoginAcceptedTellsWhatBecameOfTheLastHandOver(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(time.Hour), ObtainedAt: now.Add(-time.Minute)}
	byBob := &tokenstore.Record{AccessToken: "bob", RefreshToken: "rt", Expiry: now.Add(time.Hour), ObtainedAt: now, ObtainedBy: "bob"}
	forged := HandOver{Name: "forged", Err: errors.New(`its token endpoint "https://evil.example/token" is not the server's`)}
	kept := &Condition{True, ReasonLoginCompleted, "Login hand-over earlier was stored"}
	for name, tc := range map[string]struct {
		facts    Facts
		want     cond
		contains string
	}{
		"no hand-over: the last word is kept": {facts: Facts{Record: valid, Prev: Status{LoginAccepted: kept}},
			want: cond{True, ReasonLoginCompleted}, contains: "earlier"},
		"a forged hand-over while a token is held: rejected, and said": {facts: Facts{Record: valid, HandOvers: []HandOver{forged}},
			want: cond{False, ReasonHandOverRejected}, contains: "forged was rejected: its token endpoint"},
		"a stale hand-over: rejected with its age": {facts: Facts{Record: valid, HandOvers: []HandOver{{Name: "old", Record: byBob, CreatedAt: now.Add(-time.Hour)}}},
			want: cond{False, ReasonHandOverRejected}, contains: "created 1h0m0s ago"},
		"the login held, handed over again (kept by a finalizer): rejected, never rolled back": {
			facts: Facts{Record: valid, HandOvers: []HandOver{{Name: "kept", CreatedAt: now, Record: &tokenstore.Record{
				AccessToken: "first", RefreshToken: "spent", ObtainedAt: valid.ObtainedAt}}}},
			want: cond{False, ReasonHandOverRejected}, contains: "stored already"},
		"a login: stored, naming whose account": {facts: Facts{HandOvers: []HandOver{{Name: "h", Record: byBob, CreatedAt: now}}},
			want: cond{True, ReasonLoginCompleted}, contains: "acts as bob"},
		"a forged one, then a real login: the last one speaks": {facts: Facts{Record: valid, HandOvers: []HandOver{forged, {Name: "h", Record: byBob, CreatedAt: now}}},
			want: cond{True, ReasonLoginCompleted}, contains: "h was stored"},
	} {
		t.Run(name, func(t *testing.T) {
			f := tc.facts
			f.Now = now
			s := statusOf(&f, simulate(&f, nil))
			if got := reasonOf(s.LoginAccepted); got != tc.want {
				t.Fatalf("LoginAccepted = %v, want %v", got, tc.want)
			}
			if !strings.Contains(s.LoginAccepted.Message, tc.contains) {
				t.Errorf("message %q does not say %q", s.LoginAccepted.Message, tc.contains)
			}
			if f.Record != nil && s.AuthorizationRequired != nil && s.AuthorizationRequired.Status == True {
				t.Errorf("a held token asks for a person: %+v", s.AuthorizationRequired)
			}
		})
	}
}
