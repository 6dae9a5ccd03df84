package lifecycle

import "time"

// ConditionStatus is True, False or Unknown, as in Kubernetes conditions.
type ConditionStatus string

// The condition statuses.
const (
	True    ConditionStatus = "True"
	False   ConditionStatus = "False"
	Unknown ConditionStatus = "Unknown"
)

// Condition is one condition the lifecycle owns, without the bookkeeping the controller adds
// (observedGeneration, transition time).
type Condition struct {
	Status          ConditionStatus
	Reason, Message string
}

// Status is the part of an object's status the lifecycle owns. Nil fields are absent.
type Status struct {
	Authenticated, Connected, AuthorizationRequired *Condition
	// LoginAccepted tells what became of the last login hand-over.
	LoginAccepted     *Condition
	Token             *TokenInfo
	Refresh           *RefreshMemory
	Authorization     *Authorization
	Server            *ServerInfo
	LastCorrelationID string
}

// TokenInfo describes the held token, without secrets.
type TokenInfo struct {
	ExpiresAt, LastRefreshTime time.Time
	HasRefreshToken            bool
	Scopes                     []string
	Issuer                     string
	// ObtainedBy is who logged in: whose upstream account the token acts as.
	ObtainedBy string
}

// RefreshMemory is the failure memory of refreshes, kept in status so it survives restarts.
type RefreshMemory struct {
	FailedAttempts    int32
	LastFailureTime   time.Time
	LastFailureReason string
	NextRefreshTime   time.Time
}

// Authorization tells a person what a login needs.
type Authorization struct {
	Since                         time.Time
	LoginCommand                  string
	AuthorizationServer, Resource string
	Scopes                        []string
}

// ServerInfo is what the MCP server reported.
type ServerInfo struct {
	Name, Version, ProtocolVersion string
	Tools                          int32
}

// Event is a Kubernetes-style event the controller emits after writing status.
type Event struct {
	Warning                 bool
	Reason, Action, Message string
}

func (s Status) isTrue(c *Condition) bool { return c != nil && c.Status == True }

// refreshBlocked: the authorization server rejected the refresh token; only a login or an
// explicit request lifts it.
func (s Status) refreshBlocked() bool {
	return s.isTrue(s.AuthorizationRequired) && s.AuthorizationRequired.Reason == ReasonRefreshTokenRejected
}

func (s Status) failedAttempts() int32 {
	if s.Refresh == nil {
		return 0
	}
	return s.Refresh.FailedAttempts
}

// backingOff reports whether failed refreshes asked to wait past now.
func (s Status) backingOff(now time.Time) bool {
	r := s.Refresh
	return r != nil && r.FailedAttempts > 0 && !r.NextRefreshTime.IsZero() && now.Before(r.NextRefreshTime)
}
