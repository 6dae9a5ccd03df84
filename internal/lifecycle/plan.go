package lifecycle

import (
	"fmt"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// failuresBeforeAskingForLogin is how many consecutive failed refreshes with an expired token
// make the lifecycle also ask a person to log in (it keeps retrying regardless).
const failuresBeforeAskingForLogin = 3

// decisive steps have outcomes that change what comes next: Run asks Plan again after each.
// The others (closing a session, asking a person) only carry a decision out.
var decisive = map[StepKind]bool{
	StepSaveUnsaved: true, StepLogout: true, StepIngestHandOver: true, StepRejectHandOver: true,
	StepDiscover: true, StepRefresh: true, StepConnect: true,
}

// Plan is every decision of a pass: given the observed facts and the outcomes of the steps
// taken so far, the steps still to take, in order, each with its reason. It stops at the
// first decisive step, whose outcome the next call sees. Nil means the pass is done.
// It is pure: no I/O, and no clock but f.Now.
func Plan(f *Facts, o Outcomes) []Step {
	steps := plan(f, o)
	for i := range steps {
		s := &steps[i]
		// A browser login is offered only where the manager may open one (--browser-login).
		s.Browser = s.Browser && f.Config.BrowserLogin
		// A live session is pinged once per health interval, unless this pass already used it.
		s.Ping = s.Kind == StepConnect && f.Session.Present && o.last(StepConnect) == nil &&
			!f.Session.CheckedAt.Add(f.Config.HealthInterval).After(f.Now)
	}
	return steps
}

func plan(f *Facts, o Outcomes) []Step {
	if f.ConfigErr != nil {
		// Nothing can be done until the config is fixed; a login handed over meanwhile is
		// deleted rather than left in the namespace (its tokens are in plain text there).
		for i := range f.HandOvers {
			if !o.handOverDone(i) {
				return []Step{{Kind: StepRejectHandOver, HandOver: i, Reason: "the server's configuration is invalid: " + f.ConfigErr.Error()}}
			}
		}
		// A session opened under the old config is closed: it may carry a header whose Secret
		// has since withdrawn its consent.
		if f.Session.Present && o.last(StepCloseSession) == nil {
			return []Step{{Kind: StepCloseSession, Reason: ReasonConfigInvalid}}
		}
		return nil
	}
	if f.StoreErr != nil {
		return nil // status says why; nothing can be done until the store is fixed
	}
	last := lastDecisive(o)
	if len(o) > 0 && (last < 0 || last < len(o)-1) {
		return nil // the steps after the last decisive outcome were its continuation: done
	}
	if last < 0 {
		return start(f, o)
	}
	switch x := o[last]; x.Step.Kind {
	case StepSaveUnsaved:
		if x.StoreErr != nil {
			return nil
		}
		return start(f, o)
	case StepLogout:
		return afterLogout(f, x)
	case StepIngestHandOver, StepRejectHandOver:
		return start(f, o)
	case StepDiscover:
		return afterDiscover(f, x)
	case StepRefresh:
		return afterRefresh(f, o, x)
	case StepConnect:
		return afterConnect(f, o, x)
	}
	return nil
}

// start plans a pass from its beginning: first what must not wait (a token a failed save left
// in memory, a logout, logins handed over), then what the token calls for.
func start(f *Facts, o Outcomes) []Step {
	if f.Unsaved != nil && o.last(StepSaveUnsaved) == nil {
		return []Step{{Kind: StepSaveUnsaved, Reason: "a refreshed token could not be saved last time; it may hold the only working refresh token"}}
	}
	if f.LogoutRequested {
		return []Step{{Kind: StepLogout, Reason: "a person asked to log out"}}
	}
	for i, h := range f.HandOvers {
		if o.handOverDone(i) {
			continue
		}
		if h.Err != nil {
			return []Step{{Kind: StepRejectHandOver, HandOver: i, Reason: h.Err.Error()}}
		}
		if why := staleHandOver(f, current(f, o), h); why != "" {
			return []Step{{Kind: StepRejectHandOver, HandOver: i, Reason: why}}
		}
		return []Step{{Kind: StepIngestHandOver, HandOver: i, Reason: "a login was handed over"}}
	}
	if f.Suspended {
		if f.Session.Present {
			return []Step{{Kind: StepCloseSession, Reason: ReasonSuspended}}
		}
		return nil
	}
	if f.Config.StaticOnly {
		return []Step{connectWithoutToken("the server declares static headers and no OAuth")}
	}
	if f.Config.PerSubject {
		return perSubject(f, o)
	}
	rec := current(f, o)
	if rec == nil {
		return withoutToken(f, o)
	}
	return forToken(f, o, rec, decide(f, rec, f.Prev.Refresh, f.Prev.refreshBlocked(), f.RefreshRequested, rejectedNow(f, rec)))
}

// withoutToken plans for no stored token: wait for the login already asked for, reconnect a
// server known to need no auth, or discover how the server is protected.
func withoutToken(f *Facts, o Outcomes) []Step {
	if awaitingLogin(f, o) {
		if f.Config.BrowserLogin {
			return []Step{{Kind: StepOfferBrowserLogin, Browser: true, Reason: "a login is still awaited; the browser login is offered again"}}
		}
		return nil
	}
	if f.PrevCurrent && f.Prev.Authenticated != nil && f.Prev.Authenticated.Reason == ReasonNoAuthRequired && f.Session.Healthy {
		return []Step{connectWithoutToken("the server needs no token and its session is healthy")}
	}
	return []Step{{Kind: StepDiscover, Reason: "no token is stored"}}
}

// forToken turns the token decision into steps.
func forToken(f *Facts, o Outcomes, rec *tokenstore.Record, d decision) []Step {
	switch d.action {
	case actionAwaitLogin:
		return []Step{{Kind: StepCloseSession, Reason: d.reason, Expired: true},
			{Kind: StepRequestLogin, Reason: d.reason, Expired: true, Browser: true}}
	case actionRefresh:
		why := "the token is due for a refresh"
		switch {
		case f.RefreshRequested:
			why = "a person asked for a refresh"
		case rejectedNow(f, rec):
			why = "the MCP server rejected the access token"
		}
		return []Step{{Kind: StepRefresh, Reason: why}}
	case actionThrottled:
		if f.usable(rec) {
			return useToken(f, o, ReasonRefreshThrottled)
		}
		return []Step{{Kind: StepCloseSession, Reason: ReasonRefreshThrottled}}
	case actionBackoff:
		if f.usable(rec) {
			return useToken(f, o, "refreshes are backing off; the token is still valid")
		}
		return failing(f.Prev.failedAttempts())
	}
	return useToken(f, o, "the token is valid")
}

// failing closes the session of a token that expired while refreshes fail, and after a few
// failures also asks a person (refreshes go on).
func failing(attempts int32) []Step {
	steps := []Step{{Kind: StepCloseSession, Reason: ReasonRefreshFailing}}
	if attempts >= failuresBeforeAskingForLogin {
		steps = append(steps, Step{Kind: StepRequestLogin, Reason: ReasonRefreshFailing})
	}
	return steps
}

func afterDiscover(f *Facts, x Outcome) []Step {
	switch {
	case x.Err != nil:
		return nil
	case x.Discovery != nil && x.Discovery.NoAuthRequired:
		return []Step{connectWithoutToken("discovery found the server needs no token")}
	case f.Config.PerSubject:
		// Each person logs in for their own credential: nobody is asked for the server's.
		return []Step{{Kind: StepCloseSession, Reason: ReasonPerSubject}}
	}
	return []Step{{Kind: StepCloseSession, Reason: ReasonNoToken},
		{Kind: StepRequestLogin, Reason: ReasonNoToken, Browser: true}}
}

// afterRefresh connects with whatever usable token the refresh left; a rejected refresh token
// asks a person at once, and an expired token whose refreshes fail closes the session.
func afterRefresh(f *Facts, o Outcomes, x Outcome) []Step {
	rec := current(f, o)
	usable := f.usable(rec)
	var steps []Step
	switch {
	case x.Err != nil && x.Permanent:
		steps = append(steps, Step{Kind: StepRequestLogin, Reason: ReasonRefreshTokenRejected, Browser: true})
		if !usable {
			steps = []Step{{Kind: StepCloseSession, Reason: ReasonRefreshTokenRejected, Expired: true}, steps[0]}
		}
	case x.Err != nil && !usable:
		return failing(refreshMemory(f, o).FailedAttempts)
	}
	if usable {
		steps = append(steps, useToken(f, o, "connect with the token held after the refresh")...)
	}
	return steps
}

// afterConnect handles a 401: refresh once in this pass (not while refreshes back off or the
// refresh token is rejected), else ask a person when nothing else can help.
func afterConnect(f *Facts, o Outcomes, x Outcome) []Step {
	rec := current(f, o)
	switch {
	case x.Step.NoToken && x.Challenge != nil && !f.Config.StaticOnly && o.count(StepDiscover) < 2:
		// The server let a session open without a token, then asked for one: discover from
		// that refusal, as if initialize had been refused.
		return []Step{{Kind: StepDiscover, Reason: "the MCP server asked for a token after initialize"}}
	case x.Forbidden && !x.Step.NoToken && rec != nil:
		return []Step{{Kind: StepRequestLogin, Reason: ReasonInsufficientScope, Browser: true,
			Message: "The MCP server needs scopes the token does not have (insufficient_scope); a login asks for them"}}
	}
	if !x.Unauthorized || rec == nil || x.Step.NoToken {
		return nil
	}
	refresh := o.last(StepRefresh)
	blocked := authorizationRequired(f, o).refreshBlocked()
	backingOff := f.Prev.backingOff(f.Now)
	switch {
	case rec.RefreshToken != "" && refresh == nil && !blocked && !backingOff &&
		!f.Now.Before(issuedAt(rec).Add(minRefreshInterval(f))):
		return []Step{{Kind: StepRefresh, Reason: "the MCP server rejected the access token"}}
	case (refresh != nil && refresh.Err != nil || backingOff) && !blocked:
		return nil // refreshes are failing transiently: their backoff decides, not a 401
	case refresh != nil || rec.RefreshToken == "":
		return []Step{{Kind: StepRequestLogin, Reason: ReasonRefreshTokenRejected, Browser: true,
			Message: "The MCP server rejected the access token even after a refresh"}}
	}
	return nil
}

func connectWithoutToken(why string) Step {
	return Step{Kind: StepConnect, NoToken: true, Reason: why}
}

// current is the token the pass holds after the outcomes so far.
func current(f *Facts, o Outcomes) *tokenstore.Record {
	for i := len(o) - 1; i >= 0; i-- {
		x := o[i]
		switch {
		case x.Step.Kind == StepLogout && x.Err == nil:
			return nil
		case x.Record != nil:
			return x.Record
		}
	}
	return f.Record
}

func lastDecisive(o Outcomes) int {
	for i := len(o) - 1; i >= 0; i-- {
		if decisive[o[i].Step.Kind] {
			return i
		}
	}
	return -1
}

// awaitingLogin is true when, for the current config, a person was already asked to log in
// and only a hand-over (or a config change) can move things.
func awaitingLogin(f *Facts, o Outcomes) bool {
	a := authorizationRequired(f, o)
	if !f.PrevCurrent || !a.isTrue(a.AuthorizationRequired) || a.Authorization == nil {
		return false
	}
	switch a.AuthorizationRequired.Reason {
	case ReasonNoToken, ReasonLoggedOut, ReasonHandOverRejected:
		return true
	}
	return false
}

// maxHandOverAge is how long a hand-over may wait to be ingested. The CLI's hand-over lives
// seconds; an older one is left over or replayed, and must not replace a newer token.
const maxHandOverAge = 10 * time.Minute

// maxClockSkew is how far ahead of the API server a CLI's clock may be.
const maxClockSkew = 5 * time.Minute

// sameLogin: the hand-over carries the login the record holds (a refresh keeps the login time;
// the CLI stamps it to the nanosecond, so two logins do not share one).
func sameLogin(cur, h *tokenstore.Record) bool {
	return !h.ObtainedAt.IsZero() && h.ObtainedAt.Equal(cur.ObtainedAt)
}

// staleHandOver says why hand-over h must not replace the token held, or "". Its age is read
// on the API server's clock (the Secret's creation time, whole seconds); its login time is
// compared only with the login time of the record, which a CLI stamped too (the Secret's
// whole-second creation time against a sub-second login time refused a fresh re-login). Among
// several hand-overs the newest wins (they are ingested oldest first).
func staleHandOver(f *Facts, cur *tokenstore.Record, h HandOver) string {
	switch {
	case !h.CreatedAt.IsZero() && f.Now.Sub(h.CreatedAt) > maxHandOverAge:
		return fmt.Sprintf("it was created %s ago, longer than a hand-over may wait (%s); log in again",
			f.Now.Sub(h.CreatedAt).Round(time.Second), maxHandOverAge)
	case !h.CreatedAt.IsZero() && h.Record.ObtainedAt.After(h.CreatedAt.Add(maxClockSkew)):
		// A login time ahead of the hand-over itself would make every later login look older,
		// and hold refreshes back until then.
		return "its login time is later than the hand-over was created; log in again"
	case cur != nil && !cur.ObtainedAt.IsZero() && !h.Record.ObtainedAt.IsZero() && h.Record.ObtainedAt.Before(cur.ObtainedAt):
		// Both login times were stamped by the CLI that ran the flow.
		return "its login is older than the one the controller holds; log in again"
	case cur != nil && sameLogin(cur, h.Record):
		// Stored already (its deletion failed, or someone's finalizer keeps it): ingesting it
		// again would roll the refreshed token back to the handed-over one, and replaying that
		// refresh token gets the grant revoked.
		return "it was stored already"
	}
	return ""
}
