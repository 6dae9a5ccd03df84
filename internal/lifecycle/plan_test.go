package lifecycle

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// simulate runs Plan as Run does, with outcomes scripted per step kind instead of I/O (success
// when not scripted; a script is used once, then success).
func simulate(f *Facts, script map[StepKind][]Outcome) Outcomes {
	var o Outcomes
	for len(o) < maxSteps {
		steps := Plan(f, o)
		if len(steps) == 0 {
			break
		}
		for _, s := range steps {
			x := Outcome{Info: &mcpconn.Info{Name: "srv"}}
			if q := script[s.Kind]; len(q) > 0 {
				x, script[s.Kind] = q[0], q[1:]
			}
			if s.Kind == StepRefresh && x.Err == nil && x.Record == nil && x.StoreErr == nil {
				x.Record = &tokenstore.Record{AccessToken: "new", RefreshToken: "rt2", Expiry: now.Add(time.Hour), RefreshedAt: now, Revision: 9}
			}
			if s.Kind == StepIngestHandOver && x.Err == nil {
				x.Record = f.HandOvers[s.HandOver].Record
			}
			x.Step = s
			o = append(o, x)
			if decisive[s.Kind] {
				break
			}
		}
	}
	return o
}

type cond struct {
	status ConditionStatus
	reason string
}

func reasonOf(c *Condition) cond {
	if c == nil {
		return cond{}
	}
	return cond{c.Status, c.Reason}
}

// TestPlanAndStatus pins observed facts → (steps, conditions) for every situation the envtest
// suite drives through the real manager.
func TestPlanAndStatus(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(50 * time.Minute), ObtainedAt: now.Add(-10 * time.Minute), Revision: 3}
	due := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(time.Second), ObtainedAt: now.Add(-time.Hour), Revision: 3}
	expired := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(-time.Minute), ObtainedAt: now.Add(-time.Hour), Revision: 3}
	noRT := &tokenstore.Record{AccessToken: "at", Expiry: now.Add(-time.Minute), ObtainedAt: now.Add(-time.Hour), Revision: 3}
	rejectedRT := &oauth.Error{Code: "invalid_grant"}
	transient := errors.New("503 from the token endpoint")
	blocked := Status{AuthorizationRequired: &Condition{True, ReasonRefreshTokenRejected, "x"}}
	failing := Status{Refresh: &RefreshMemory{FailedAttempts: 2, NextRefreshTime: now.Add(time.Minute)}}
	cases := map[string]struct {
		facts                Facts
		script               map[StepKind][]Outcome
		steps                []StepKind
		auth, conn, loginReq cond
	}{
		"config invalid: nothing done": {facts: Facts{ConfigErr: errors.New("secret missing")},
			auth: cond{False, ReasonConfigInvalid}, conn: cond{False, ReasonConfigInvalid}},
		"config invalid with a login handed over: the hand-over is deleted, not left lying": {
			facts: Facts{ConfigErr: errors.New("secret missing"), HandOvers: []HandOver{{Name: "h", Record: valid}}},
			steps: []StepKind{StepRejectHandOver}, auth: cond{False, ReasonConfigInvalid}, conn: cond{False, ReasonConfigInvalid},
			loginReq: cond{True, ReasonHandOverRejected}},
		"store unreadable: nothing done, nothing deleted": {facts: Facts{StoreErr: errors.New("corrupt")},
			auth: cond{False, ReasonTokenStoreError}, conn: cond{Unknown, ReasonTokenStoreError}},
		"no token, server needs OAuth: ask for a login": {facts: Facts{},
			script: map[StepKind][]Outcome{StepDiscover: {{Discovery: &oauth.Discovery{Issuer: "https://as"}}}},
			steps:  []StepKind{StepDiscover, StepCloseSession, StepRequestLogin},
			auth:   cond{False, ReasonNoToken}, conn: cond{False, ReasonNoToken}, loginReq: cond{True, ReasonNoToken}},
		"no token, no auth needed: connect": {facts: Facts{},
			script: map[StepKind][]Outcome{StepDiscover: {{Discovery: &oauth.Discovery{NoAuthRequired: true}}}},
			steps:  []StepKind{StepDiscover, StepConnect},
			auth:   cond{True, ReasonNoAuthRequired}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonAuthorizationNotNeeded}},
		"discovery fails: retry later": {facts: Facts{},
			script: map[StepKind][]Outcome{StepDiscover: {{Err: errors.New("dial tcp: refused")}}},
			steps:  []StepKind{StepDiscover}, auth: cond{False, ReasonDiscoveryFailed}, conn: cond{False, ReasonDiscoveryFailed}},
		"valid token: connect": {facts: Facts{Record: valid}, steps: []StepKind{StepConnect},
			auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"due: refresh, then connect": {facts: Facts{Record: due}, steps: []StepKind{StepRefresh, StepConnect},
			auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"refresh token rejected, token expired: ask a person": {facts: Facts{Record: expired},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: rejectedRT, Permanent: true}}},
			steps:  []StepKind{StepRefresh, StepCloseSession, StepRequestLogin},
			auth:   cond{False, ReasonRefreshTokenRejected}, conn: cond{False, ReasonTokenExpired}, loginReq: cond{True, ReasonRefreshTokenRejected}},
		"transient failure, token still valid: stay connected": {facts: Facts{Record: due},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: transient}}},
			steps:  []StepKind{StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"transient failure, expired: close, keep retrying": {facts: Facts{Record: expired},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: transient}}},
			steps:  []StepKind{StepRefresh, StepCloseSession}, auth: cond{False, ReasonRefreshFailing}, conn: cond{False, ReasonRefreshFailing}},
		"third failure, expired: also ask a person": {facts: Facts{Record: expired, Prev: Status{Refresh: &RefreshMemory{FailedAttempts: 2, NextRefreshTime: now.Add(-time.Second)}}},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: transient}}},
			steps:  []StepKind{StepRefresh, StepCloseSession, StepRequestLogin},
			auth:   cond{False, ReasonRefreshFailing}, conn: cond{False, ReasonRefreshFailing}, loginReq: cond{True, ReasonRefreshFailing}},
		"backing off with a valid token: connect, no refresh": {facts: Facts{Record: due, Prev: failing},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"a 401 while backing off does not bypass the backoff": {facts: Facts{Record: due, Prev: failing, Session: SessionFacts{Present: true, Unauthorized: true}},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"an answer over a bound: the session is refused and the bound named": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {{Err: &mcpconn.LimitError{Limit: mcpconn.LimitTools, Max: 1000}}}},
			steps:  []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{False, ReasonLimitExceeded}, loginReq: cond{False, ReasonTokenValid}},
		"a 401 before expiry: refresh once, reconnect": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {{Err: mcpconn.ErrUnauthorized, Unauthorized: true}}},
			steps:  []StepKind{StepConnect, StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"a 401 even after the refresh: ask a person": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {{Err: mcpconn.ErrUnauthorized, Unauthorized: true}, {Err: mcpconn.ErrUnauthorized, Unauthorized: true}}},
			steps:  []StepKind{StepConnect, StepRefresh, StepConnect, StepRequestLogin},
			auth:   cond{False, ReasonTokenExpired}, conn: cond{False, ReasonConnectFailed}, loginReq: cond{True, ReasonRefreshTokenRejected}},
		"the gateway reports the current revision rejected: refresh": {facts: Facts{Record: valid, RejectedRevision: 3},
			steps: []StepKind{StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"the gateway reports an older revision: no refresh": {facts: Facts{Record: valid, RejectedRevision: 2},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"refreshed just now and due again (expires_in=1): the floor holds it": {facts: Facts{Record: &tokenstore.Record{AccessToken: "at", RefreshToken: "rt",
			Expiry: now.Add(100 * time.Millisecond), RefreshedAt: now.Add(-900 * time.Millisecond), Revision: 3}},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonRefreshThrottled}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"refreshed just now, expired, due again: close, wait for the floor": {facts: Facts{Record: &tokenstore.Record{AccessToken: "at", RefreshToken: "rt",
			Expiry: now.Add(-100 * time.Millisecond), RefreshedAt: now.Add(-500 * time.Millisecond), Revision: 3}},
			steps: []StepKind{StepCloseSession}, auth: cond{False, ReasonRefreshThrottled}, conn: cond{False, ReasonRefreshThrottled}},
		"a 401 right after a refresh does not refresh again before the floor": {facts: Facts{Record: &tokenstore.Record{AccessToken: "at", RefreshToken: "rt",
			Expiry: now.Add(time.Hour), RefreshedAt: now.Add(-100 * time.Millisecond), Revision: 3}},
			script: map[StepKind][]Outcome{StepConnect: {{Err: mcpconn.ErrUnauthorized, Unauthorized: true}}},
			steps:  []StepKind{StepConnect}, auth: cond{False, ReasonRefreshThrottled}, conn: cond{False, ReasonConnectFailed}},
		"a server that asks for a token only after initialize: discover from that refusal": {facts: Facts{},
			script: map[StepKind][]Outcome{
				StepDiscover: {{Discovery: &oauth.Discovery{NoAuthRequired: true}}, {Discovery: &oauth.Discovery{Issuer: "https://as"}}},
				StepConnect:  {{Err: mcpconn.ErrUnauthorized, Unauthorized: true, Challenge: &oauth.LaterChallenge{Status: 401}}}},
			steps: []StepKind{StepDiscover, StepConnect, StepDiscover, StepCloseSession, StepRequestLogin},
			auth:  cond{False, ReasonNoToken}, conn: cond{False, ReasonNoToken}, loginReq: cond{True, ReasonNoToken}},
		"insufficient scope after initialize: ask for a step-up login": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {{Err: mcpconn.ErrForbidden, Forbidden: true, Challenge: &oauth.LaterChallenge{Status: 403}}}},
			steps:  []StepKind{StepConnect, StepRequestLogin},
			auth:   cond{True, ReasonTokenValid}, conn: cond{False, ReasonConnectFailed}, loginReq: cond{True, ReasonInsufficientScope}},
		"expired without a refresh token: wait for a login": {facts: Facts{Record: noRT},
			steps: []StepKind{StepCloseSession, StepRequestLogin},
			auth:  cond{False, ReasonTokenExpired}, conn: cond{False, ReasonTokenExpired}, loginReq: cond{True, ReasonTokenExpired}},
		"rejected refresh token, still valid: connect, keep asking": {facts: Facts{Record: due, Prev: blocked},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{True, ReasonRefreshTokenRejected}},
		"rejected refresh token, a person asks for a refresh: refresh": {facts: Facts{Record: expired, Prev: blocked, RefreshRequested: true},
			steps: []StepKind{StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"logout: revoke and delete, nothing else": {facts: Facts{Record: valid, LogoutRequested: true, HandOvers: []HandOver{{Name: "h", Record: valid}}},
			steps: []StepKind{StepLogout}, auth: cond{False, ReasonLoggedOut}, conn: cond{False, ReasonLoggedOut}, loginReq: cond{True, ReasonLoggedOut}},
		"a hand-over is ingested, then used": {facts: Facts{HandOvers: []HandOver{{Name: "h", Record: valid}}},
			steps: []StepKind{StepIngestHandOver, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"a hand-over older than the login held: rejected, the newer token kept": {
			facts: Facts{Record: valid, HandOvers: []HandOver{{Name: "old", Record: valid, CreatedAt: now.Add(-11 * time.Minute)}}},
			steps: []StepKind{StepRejectHandOver, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected},
			loginReq: cond{False, ReasonTokenValid}},
		"a hand-over whose login is older than the stored one: rejected": {
			facts: Facts{Record: valid, HandOvers: []HandOver{{Name: "replayed", CreatedAt: now, Record: &tokenstore.Record{
				AccessToken: "old", ObtainedAt: valid.ObtainedAt.Add(-time.Minute)}}}},
			steps: []StepKind{StepRejectHandOver, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected},
			loginReq: cond{False, ReasonTokenValid}},
		"a hand-over whose login time lies in the future: rejected": {
			facts: Facts{Record: valid, HandOvers: []HandOver{{Name: "future", CreatedAt: now, Record: &tokenstore.Record{
				AccessToken: "x", ObtainedAt: now.Add(24 * time.Hour)}}}},
			steps: []StepKind{StepRejectHandOver, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected},
			loginReq: cond{False, ReasonTokenValid}},
		"an invalid hand-over with no token: rejected, a person asked": {facts: Facts{HandOvers: []HandOver{{Name: "h", Err: errors.New("not owned")}}, PrevCurrent: true},
			steps: []StepKind{StepRejectHandOver}, loginReq: cond{True, ReasonHandOverRejected}},
		"suspended: close the session, keep the token": {facts: Facts{Record: valid, Suspended: true, Session: SessionFacts{Present: true}},
			steps: []StepKind{StepCloseSession}, conn: cond{False, ReasonSuspended}},
		"static headers only: connect without a token": {facts: Facts{Config: Config{StaticOnly: true}},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonNoAuthRequired}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonAuthorizationNotNeeded}},
		"an unsaved token is saved first": {facts: Facts{Record: expired, Unsaved: &Unsaved{Record: valid, ExpectRevision: 3}},
			script: map[StepKind][]Outcome{StepSaveUnsaved: {{Record: valid}}},
			steps:  []StepKind{StepSaveUnsaved, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"the unsaved token still cannot be saved: stop": {facts: Facts{Record: expired, Unsaved: &Unsaved{Record: valid, ExpectRevision: 3}},
			script: map[StepKind][]Outcome{StepSaveUnsaved: {{StoreErr: errors.New("disk full")}}},
			steps:  []StepKind{StepSaveUnsaved}, auth: cond{False, ReasonTokenStoreError}, conn: cond{Unknown, ReasonTokenStoreError}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := tc.facts
			f.Now = now
			f.Config.HealthInterval, f.Config.JitterKey, f.Config.LoginCommand = time.Minute, "ns/srv", "mcpproxy auth login srv"
			o := simulate(&f, tc.script)
			if got := kinds(o); !slices.Equal(got, tc.steps) {
				t.Fatalf("steps = %v, want %v", got, tc.steps)
			}
			s := statusOf(&f, o)
			for what, pair := range map[string][2]cond{"Authenticated": {reasonOf(s.Authenticated), tc.auth},
				"Connected": {reasonOf(s.Connected), tc.conn}, "AuthorizationRequired": {reasonOf(s.AuthorizationRequired), tc.loginReq}} {
				if pair[0] != pair[1] {
					t.Errorf("%s = %v, want %v", what, pair[0], pair[1])
				}
			}
		})
	}
}

// The plan, not the connect, decides when a kept session is checked, and whether a login may
// open the browser.
func TestPlanMarksPingsAndBrowserLogins(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(time.Hour), ObtainedAt: now, Revision: 1}
	noRT := &tokenstore.Record{AccessToken: "at", Expiry: now.Add(-time.Minute), Revision: 1}
	cases := map[string]struct {
		facts       Facts
		ping, login bool
	}{
		"session checked long ago: ping":    {facts: Facts{Record: valid, Session: SessionFacts{Present: true, Healthy: true, CheckedAt: now.Add(-2 * time.Minute)}}, ping: true},
		"session checked just now: no ping": {facts: Facts{Record: valid, Session: SessionFacts{Present: true, Healthy: true, CheckedAt: now.Add(-time.Second)}}},
		"no session: dial, no ping":         {facts: Facts{Record: valid}},
		"login asked, browser allowed":      {facts: Facts{Record: noRT, Config: Config{BrowserLogin: true}}, login: true},
		"login asked, no browser":           {facts: Facts{Record: noRT}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := tc.facts
			f.Now, f.Config.HealthInterval = now, time.Minute
			var ping, login bool
			for _, s := range Plan(&f, nil) {
				ping = ping || s.Ping
				login = login || (s.Kind == StepRequestLogin && s.Browser)
			}
			if ping != tc.ping || login != tc.login {
				t.Fatalf("ping = %t, browser login = %t; want %t, %t", ping, login, tc.ping, tc.login)
			}
		})
	}
}

// A token that is due again as soon as it is refreshed (expires_in=1, or refreshBefore at
// least its lifetime) is refreshed once per floor, not on every pass.
func TestRefreshFloorBoundsRefreshesPerToken(t *testing.T) {
	hour, two := time.Hour, 2*time.Second
	for name, c := range map[string]struct {
		lifetime      time.Duration
		refreshBefore *time.Duration
	}{
		"expires_in=1 with refreshBefore 2s": {lifetime: time.Second, refreshBefore: &two},
		"refreshBefore > lifetime":           {lifetime: 30 * time.Minute, refreshBefore: &hour},
	} {
		t.Run(name, func(t *testing.T) {
			f := &Facts{Config: Config{RefreshBefore: c.refreshBefore, JitterKey: "ns/srv", HealthInterval: time.Minute}}
			refreshes := 0
			rec := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(c.lifetime), RefreshedAt: now}
			// Ten seconds of passes every 10 ms, each refreshing when the plan says so.
			for at := now; at.Before(now.Add(10 * time.Second)); at = at.Add(10 * time.Millisecond) {
				f.Now, f.Record = at, rec
				if steps := Plan(f, nil); len(steps) > 0 && steps[0].Kind == StepRefresh {
					refreshes++
					rec = &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: at.Add(c.lifetime), RefreshedAt: at}
				}
			}
			if max := int(10*time.Second/DefaultMinRefreshInterval) + 1; refreshes > max {
				t.Fatalf("%d refreshes in 10s, want at most %d (one per %s)", refreshes, max, DefaultMinRefreshInterval)
			}
		})
	}
}
