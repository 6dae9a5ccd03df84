package lifecycle

import (
	"fmt"
	"time"
)

// events are the events a pass's outcomes call for. Routine refreshes emit none (they are
// logged and counted), so a refresh costs one API write: the status patch.
func events(f *Facts, o Outcomes) []Event {
	var evs []Event
	add := func(warning bool, reason, action, format string, args ...any) {
		evs = append(evs, Event{Warning: warning, Reason: reason, Action: action, Message: fmt.Sprintf(format, args...)})
	}
	for i, x := range o {
		switch x.Step.Kind {
		case StepLogout:
			if x.Err == nil {
				add(false, ReasonLoggedOut, "Logout", "%s", logoutMessage)
			}
		case StepIngestHandOver, StepRejectHandOver:
			if x.Step.Kind == StepIngestHandOver && x.Err == nil {
				add(false, ReasonLoginCompleted, "Login", "Login completed; token stored (refresh token: %t)", x.Record.RefreshToken != "")
			} else {
				add(true, ReasonHandOverRejected, "Login", "%s", handOverMessage(f, x))
			}
		case StepRefresh:
			if e := refreshEvent(f, o[:i], x); e != nil {
				evs = append(evs, *e)
			}
		}
	}
	return evs
}

// refreshEvent: failures always; a success only after failures, a request for a person, or
// when it was asked for explicitly.
func refreshEvent(f *Facts, before Outcomes, x Outcome) *Event {
	m := refreshMemory(f, append(before, x))
	switch {
	case x.StoreErr != nil || x.Conflict:
		return nil
	case x.Err != nil && x.Permanent:
		return &Event{true, "TokenRefreshFailed", "Refresh", "The authorization server rejected the refresh token: " + failureReason(x.Err)}
	case x.Err != nil:
		wait := m.NextRefreshTime.Sub(f.Now).Round(time.Second)
		return &Event{true, "TokenRefreshFailed", "Refresh", fmt.Sprintf("Refresh attempt %d failed, retrying in %s: %s",
			m.FailedAttempts, wait, failureReason(x.Err))}
	}
	prev := refreshMemory(f, before)
	a := authorizationRequired(f, before)
	switch {
	case prev != nil && prev.FailedAttempts > 0 || a.isTrue(a.AuthorizationRequired):
		n := int32(0)
		if prev != nil {
			n = prev.FailedAttempts
		}
		return &Event{false, "TokenRefreshed", "Refresh", fmt.Sprintf("Token refreshed after %d failed attempts", n)}
	case f.RefreshRequested:
		return &Event{false, "TokenRefreshed", "Refresh", "Token refreshed on request"}
	}
	return nil
}
