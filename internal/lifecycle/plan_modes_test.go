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

type modeCase struct {
	facts                          Facts
	script                         map[StepKind][]Outcome
	steps                          []StepKind
	auth, conn, loginReq, accepted cond
}

// runModeCases is TestPlanAndStatus for one mode: facts → (steps, conditions).
func runModeCases(t *testing.T, cfg Config, cases map[string]modeCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := tc.facts
			f.Now = now
			f.Config = cfg
			f.Config.HealthInterval, f.Config.JitterKey, f.Config.LoginCommand = time.Minute, "ns/srv:cred", "mcpproxy auth login srv -n ns --for user/bob"
			o := simulate(&f, tc.script)
			if got := kinds(o); !slices.Equal(got, tc.steps) {
				t.Fatalf("steps = %v, want %v", got, tc.steps)
			}
			s := statusOf(&f, o)
			for what, pair := range map[string][2]cond{"Authenticated": {reasonOf(s.Authenticated), tc.auth},
				"Connected": {reasonOf(s.Connected), tc.conn}, "AuthorizationRequired": {reasonOf(s.AuthorizationRequired), tc.loginReq},
				"LoginAccepted": {reasonOf(s.LoginAccepted), tc.accepted}} {
				if pair[0] != pair[1] {
					t.Errorf("%s = %v, want %v", what, pair[0], pair[1])
				}
			}
		})
	}
}

// A credential keeps no session: its token is proven by one request when it is obtained or
// refreshed (or was never proven), and a proven token sends nothing until the next one.
func TestPlanAndStatusOneShot(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(50 * time.Minute), ObtainedAt: now.Add(-10 * time.Minute), Revision: 3}
	due := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(time.Second), ObtainedAt: now.Add(-time.Hour), Revision: 3}
	held := Status{Authenticated: &Condition{True, ReasonTokenValid, "x"}, AuthorizationRequired: &Condition{False, ReasonTokenValid, "x"}}
	unauthorized := Outcome{Err: mcpconn.ErrUnauthorized, Unauthorized: true}
	runModeCases(t, Config{OneShot: true}, map[string]modeCase{
		"a proven token: nothing is sent": {facts: Facts{Record: valid, Verified: true, Prev: held},
			auth: cond{True, ReasonTokenValid}, loginReq: cond{False, ReasonTokenValid}},
		"a token never proven (a restart mid-check): one request": {facts: Facts{Record: valid},
			steps: []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"due: refresh, then prove the new token": {facts: Facts{Record: due, Verified: true, Prev: held},
			steps: []StepKind{StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"a login handed over: stored, then proven": {facts: Facts{HandOvers: []HandOver{{Name: "h", Record: valid, CreatedAt: now}}},
			steps: []StepKind{StepIngestHandOver, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected},
			loginReq: cond{False, ReasonTokenValid}, accepted: cond{True, ReasonLoginCompleted}},
		"a transient refresh failure, the proven token still valid: nothing more is sent": {facts: Facts{Record: due, Verified: true, Prev: held},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: errors.New("503")}}},
			steps:  []StepKind{StepRefresh}, auth: cond{True, ReasonTokenValid}, loginReq: cond{False, ReasonTokenValid}},
		"the refresh token rejected, the proven token still valid: ask a person at once": {facts: Facts{Record: due, Verified: true, Prev: held},
			script: map[StepKind][]Outcome{StepRefresh: {{Err: &oauth.Error{Code: "invalid_grant"}, Permanent: true}}},
			steps:  []StepKind{StepRefresh, StepRequestLogin}, auth: cond{True, ReasonTokenValid}, loginReq: cond{True, ReasonRefreshTokenRejected}},
		"the refreshed token refused (401): a person is asked": {facts: Facts{Record: due, Verified: true, Prev: held},
			script: map[StepKind][]Outcome{StepConnect: {unauthorized}},
			steps:  []StepKind{StepRefresh, StepConnect, StepRequestLogin}, auth: cond{False, ReasonTokenExpired},
			conn: cond{False, ReasonConnectFailed}, loginReq: cond{True, ReasonRefreshTokenRejected}},
		"an unproven token refused (401): refresh once, prove the new one": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {unauthorized}},
			steps:  []StepKind{StepConnect, StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"the MCP server unreachable: the token stays, the check says why": {facts: Facts{Record: valid},
			script: map[StepKind][]Outcome{StepConnect: {{Err: errors.New("connection refused")}}},
			steps:  []StepKind{StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{False, ReasonConnectFailed}, loginReq: cond{False, ReasonTokenValid}},
		"the gateway reports the proven token rejected: refresh, prove": {facts: Facts{Record: valid, Verified: true, Prev: held, RejectedRevision: 3},
			steps: []StepKind{StepRefresh, StepConnect}, auth: cond{True, ReasonTokenValid}, conn: cond{True, ReasonConnected}, loginReq: cond{False, ReasonTokenValid}},
		"a rejected hand-over leaves the proven token alone": {facts: Facts{Record: valid, Verified: true, Prev: held,
			HandOvers: []HandOver{{Name: "h", Err: errors.New("not owned by this UpstreamCredential")}}},
			steps: []StepKind{StepRejectHandOver}, auth: cond{True, ReasonTokenValid}, loginReq: cond{False, ReasonTokenValid},
			accepted: cond{False, ReasonHandOverRejected}},
	})
}

// A proven credential wakes for its refresh, never for a session's health check; a check that
// could not be made is tried again soon.
func TestOneShotWakesForTheRefreshOnly(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(50 * time.Minute), ObtainedAt: now.Add(-10 * time.Minute), Revision: 3}
	for name, tc := range map[string]struct {
		verified bool
		connect  []Outcome
		want     time.Time
	}{
		"proven before":       {verified: true, want: RefreshTime(valid.ObtainedAt, valid.Expiry, nil, "k")},
		"proven in this pass": {want: RefreshTime(valid.ObtainedAt, valid.Expiry, nil, "k")},
		"the check failed":    {connect: []Outcome{{Err: errors.New("connection refused")}}, want: now.Add(discoveryRetry)},
	} {
		t.Run(name, func(t *testing.T) {
			f := &Facts{Now: now, Record: valid, Verified: tc.verified, Config: Config{OneShot: true, HealthInterval: time.Minute, JitterKey: "k"}}
			o := simulate(f, map[StepKind][]Outcome{StepConnect: tc.connect})
			if got := wakeAt(f, o, statusOf(f, o)); !got.Equal(tc.want) {
				t.Fatalf("wake at %s, want %s", got, tc.want)
			}
		})
	}
}

// A PerSubject server holds no token: a shared one is revoked, its own hand-overs are
// refused without asking anyone, and discovery runs once per generation.
func TestPlanAndStatusPerSubjectServer(t *testing.T) {
	valid := &tokenstore.Record{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(50 * time.Minute), ObtainedAt: now.Add(-10 * time.Minute), Revision: 3}
	// simulate uses a script up: each case gets its own.
	found := func() map[StepKind][]Outcome {
		return map[StepKind][]Outcome{StepDiscover: {{Discovery: &oauth.Discovery{Issuer: "https://as"}}}}
	}
	discovered := Status{Authenticated: &Condition{False, ReasonPerSubject, "x"}, AuthorizationRequired: &Condition{False, ReasonPerSubject, "x"}}
	perSubject := cond{False, ReasonPerSubject}
	runModeCases(t, Config{PerSubject: true}, map[string]modeCase{
		"no token: discover, ask nobody": {script: found(),
			steps: []StepKind{StepDiscover, StepCloseSession}, auth: perSubject, conn: perSubject, loginReq: perSubject},
		"discovered for this generation: nothing to do": {facts: Facts{PrevCurrent: true, Prev: discovered},
			auth: perSubject, loginReq: perSubject},
		"a new generation: discover again": {facts: Facts{Prev: discovered}, script: found(),
			steps: []StepKind{StepDiscover, StepCloseSession}, auth: perSubject, conn: perSubject, loginReq: perSubject},
		"a shared token left from Shared mode: revoked, then discover": {facts: Facts{Record: valid}, script: found(),
			steps: []StepKind{StepLogout, StepDiscover, StepCloseSession}, auth: perSubject, conn: perSubject, loginReq: perSubject},
		"the server's own hand-over: refused, nobody asked": {facts: Facts{HandOvers: []HandOver{{Name: "h", Err: errors.New("credentialMode is PerSubject")}}},
			script: found(), steps: []StepKind{StepRejectHandOver, StepDiscover, StepCloseSession},
			auth: perSubject, conn: perSubject, loginReq: perSubject, accepted: cond{False, ReasonHandOverRejected}},
		"discovery fails: retried, still nobody asked": {script: map[StepKind][]Outcome{StepDiscover: {{Err: errors.New("dial tcp: refused")}}},
			steps: []StepKind{StepDiscover}, auth: cond{False, ReasonDiscoveryFailed}, conn: cond{False, ReasonDiscoveryFailed}, loginReq: perSubject},
		"the server needs no token: connect without one": {script: map[StepKind][]Outcome{StepDiscover: {{Discovery: &oauth.Discovery{NoAuthRequired: true}}}},
			steps: []StepKind{StepDiscover, StepConnect}, auth: cond{True, ReasonNoAuthRequired}, conn: cond{True, ReasonConnected},
			loginReq: cond{False, ReasonAuthorizationNotNeeded}},
	})
}
