package lifecycle

import (
	"errors"
	"fmt"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// authenticatedCondition says whether a usable access token is held. The newest outcome that speaks
// about the token decides; without one, the facts do; nil leaves the condition as it was.
func authenticatedCondition(f *Facts, o Outcomes) *Condition {
	if c := factCondition(f, False); c != nil {
		return c
	}
	for i := len(o) - 1; i >= 0; i-- {
		if c := authenticatedBy(f, o[:i+1], o[i]); c != nil {
			return c
		}
	}
	if f.Suspended && current(f, o) == nil {
		return &Condition{False, ReasonSuspended, suspendedMessage}
	}
	return nil
}

// authenticatedBy is what outcome x (the last of upTo) says of the token, or nil.
func authenticatedBy(f *Facts, upTo Outcomes, x Outcome) *Condition {
	rec := current(f, upTo)
	valid := &Condition{True, ReasonTokenValid, "The controller holds a valid access token"}
	switch x.Step.Kind {
	case StepSaveUnsaved, StepLogout:
		if x.StoreErr != nil {
			return storeCondition(False, x.StoreErr)
		}
		if x.Step.Kind == StepLogout {
			return &Condition{False, ReasonLoggedOut, logoutMessage}
		}
	case StepRefresh:
		return refreshedAuth(f, upTo, x, valid)
	case StepConnect:
		return connectedAuth(f, upTo, x, valid)
	case StepDiscover:
		if x.Err != nil {
			return &Condition{False, failureReasonOf(x.Err, ReasonDiscoveryFailed), discoveryMessage(x)}
		}
		if x.Discovery != nil && !x.Discovery.NoAuthRequired {
			if f.Config.PerSubject {
				return &Condition{False, ReasonPerSubject, perSubjectMessage(x.Discovery.Issuer)}
			}
			return &Condition{False, ReasonNoToken, "No token is stored for this server"}
		}
	case StepRequestLogin:
		if x.Step.Expired {
			return &Condition{False, ReasonTokenExpired, expiredMessage(x.Step.Reason)}
		}
	case StepCloseSession:
		if x.Step.Reason == ReasonRefreshFailing && !f.usable(rec) {
			return &Condition{False, ReasonRefreshFailing, failingMessage(f, upTo)}
		}
		if x.Step.Reason == ReasonRefreshThrottled {
			return &Condition{False, ReasonRefreshThrottled, throttledMessage(f, rec)}
		}
	}
	return nil
}

func refreshedAuth(f *Facts, upTo Outcomes, x Outcome, valid *Condition) *Condition {
	usable := f.usable(current(f, upTo))
	switch {
	case x.StoreErr != nil:
		return storeCondition(False, x.StoreErr)
	case x.Err != nil && x.Permanent:
		msg := rejectedMessage(x)
		if usable {
			return &Condition{True, ReasonTokenValid, msg + "; the access token works until it expires"}
		}
		return &Condition{False, ReasonRefreshTokenRejected, msg}
	case x.Err != nil && !usable:
		return &Condition{False, ReasonRefreshFailing, failingMessage(f, upTo)}
	case x.Conflict && !usable:
		return nil
	}
	return valid
}

// connectedAuth: a connect with the token says it is valid unless the server refused it; a
// refusal speaks only once nothing else in the pass can fix it.
func connectedAuth(f *Facts, upTo Outcomes, x Outcome, valid *Condition) *Condition {
	if x.Step.NoToken {
		return &Condition{True, ReasonNoAuthRequired, "The server needs no OAuth token"}
	}
	before := upTo[:len(upTo)-1]
	refresh := before.last(StepRefresh)
	if !x.Unauthorized {
		switch {
		case refresh != nil:
			return nil // the refresh's outcome speaks for the token
		case x.Step.Reason == ReasonRefreshThrottled:
			return &Condition{True, ReasonRefreshThrottled, throttledMessage(f, current(f, upTo))}
		}
		return valid
	}
	rec := current(f, upTo)
	blocked := authorizationRequired(f, before).refreshBlocked()
	msg := "The MCP server rejected the access token"
	switch {
	case !blocked && (refresh != nil && refresh.Err != nil || f.Prev.backingOff(f.Now)):
		return &Condition{False, ReasonRefreshFailing, msg + " and refreshing it is failing; retrying with backoff"}
	case refresh != nil || rec == nil || rec.RefreshToken == "":
		return &Condition{False, ReasonTokenExpired, msg}
	case f.Now.Before(issuedAt(rec).Add(minRefreshInterval(f))):
		return &Condition{False, ReasonRefreshThrottled, msg + " right after its refresh. " + throttledMessage(f, rec)}
	}
	return nil
}

// factCondition is what the facts alone say when nothing can be done: an unreadable config or
// token store. status is what the store error makes of the condition (Connected says Unknown).
func factCondition(f *Facts, storeStatus ConditionStatus) *Condition {
	switch {
	case f.ConfigErr != nil:
		return &Condition{False, ReasonConfigInvalid, f.ConfigErr.Error()}
	case f.StoreErr != nil:
		return storeCondition(storeStatus, f.StoreErr)
	}
	return nil
}

func storeCondition(status ConditionStatus, err error) *Condition {
	return &Condition{status, ReasonTokenStoreError, fmt.Sprintf("The token store could not be read for this server: %v. "+
		"The stored token is kept; check the controller's token store and encryption key", err)}
}

// failureReasonOf is the condition reason for a failed call: EgressDenied when the egress
// policy refused the destination (only a flag of the manager's can change that), else def.
func failureReasonOf(err error, def string) string {
	var denied *netguard.DeniedError
	var limit *mcpconn.LimitError
	switch {
	case errors.As(err, &denied):
		return ReasonEgressDenied
	case errors.As(err, &limit):
		return ReasonLimitExceeded // the message names the bound
	}
	return def
}
