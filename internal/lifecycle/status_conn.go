package lifecycle

import (
	"fmt"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// connectedCondition says whether a live MCP session is open: the newest outcome that touched the
// session decides; nil leaves the condition as it was.
func connectedCondition(f *Facts, o Outcomes) *Condition {
	if c := factCondition(f, Unknown); c != nil {
		return c
	}
	for i := len(o) - 1; i >= 0; i-- {
		if c := connectedBy(f, o[:i+1], o[i]); c != nil {
			return c
		}
	}
	if f.Suspended {
		return &Condition{False, ReasonSuspended, suspendedMessage}
	}
	return nil
}

func connectedBy(f *Facts, upTo Outcomes, x Outcome) *Condition {
	switch x.Step.Kind {
	case StepSaveUnsaved, StepLogout:
		if x.StoreErr != nil {
			return storeCondition(Unknown, x.StoreErr)
		}
		if x.Step.Kind == StepLogout {
			return &Condition{False, ReasonLoggedOut, logoutMessage}
		}
	case StepRefresh:
		if x.StoreErr != nil {
			return storeCondition(Unknown, x.StoreErr)
		}
	case StepConnect:
		return connectCondition(x)
	case StepDiscover:
		if x.Err != nil {
			return &Condition{False, failureReasonOf(x.Err, ReasonDiscoveryFailed), discoveryMessage(x)}
		}
	case StepCloseSession:
		return closedCondition(f, upTo, x.Step)
	}
	return nil
}

func connectCondition(x Outcome) *Condition {
	switch {
	case x.Err == nil && x.Info != nil:
		i := x.Info
		return &Condition{True, ReasonConnected, fmt.Sprintf("Connected to %s %s (%d tools)", i.Name, i.Version, i.Tools)}
	case x.Unauthorized:
		return &Condition{False, ReasonConnectFailed, "The MCP server rejected the access token"}
	case x.Dropped:
		return &Condition{False, ReasonDisconnected, "The MCP session dropped and could not be reopened: " + oauth.Redact(x.Err.Error())}
	case x.Err != nil:
		return &Condition{False, failureReasonOf(x.Err, ReasonConnectFailed), "Could not open an MCP session: " + oauth.Redact(x.Err.Error())}
	}
	return nil
}

// closedCondition says why the lifecycle closed the session.
func closedCondition(f *Facts, upTo Outcomes, s Step) *Condition {
	switch {
	case s.Expired:
		return &Condition{False, ReasonTokenExpired, expiredMessage(s.Reason) + "; waiting for a login"}
	case s.Reason == ReasonNoToken:
		return &Condition{False, ReasonNoToken, "Waiting for a login"}
	case s.Reason == ReasonRefreshFailing:
		return &Condition{False, ReasonRefreshFailing, failingMessage(f, upTo)}
	case s.Reason == ReasonSuspended:
		return &Condition{False, ReasonSuspended, suspendedMessage}
	case s.Reason == ReasonRefreshThrottled:
		return &Condition{False, ReasonRefreshThrottled, throttledMessage(f, current(f, upTo))}
	case s.Reason == ReasonPerSubject:
		return &Condition{False, ReasonPerSubject, perSubjectSessionMessage}
	}
	return nil
}
