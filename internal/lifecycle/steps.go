package lifecycle

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// StepKind is one thing Run can do.
type StepKind string

// The steps, in the order a pass may take them.
const (
	StepSaveUnsaved    StepKind = "SaveUnsaved"    // save a token a failed save left in memory
	StepLogout         StepKind = "Logout"         // close the session, revoke, delete the token
	StepIngestHandOver StepKind = "IngestHandOver" // save a login (CAS) and delete its Secret
	StepRejectHandOver StepKind = "RejectHandOver" // delete an invalid hand-over
	StepCloseSession   StepKind = "CloseSession"
	StepDiscover       StepKind = "Discover"     // find out how the server is protected
	StepRefresh        StepKind = "Refresh"      // spend the refresh token, save the result
	StepConnect        StepKind = "Connect"      // open, keep or check the MCP session
	StepRequestLogin   StepKind = "RequestLogin" // ask a person (and, if enabled, the browser)
	// StepOfferBrowserLogin offers the browser login again while a login is awaited.
	StepOfferBrowserLogin StepKind = "OfferBrowserLogin"
)

// Step is one planned action and why.
type Step struct {
	Kind   StepKind
	Reason string
	// HandOver indexes Facts.HandOvers for the hand-over steps.
	HandOver int
	// NoToken: a connect that sends no OAuth token (no auth needed, or static headers).
	NoToken bool
	// Expired: the step carries out "the token expired and only a person can help".
	Expired bool
	// Browser: a login request also opens the browser (manager --browser-login).
	Browser bool
	// Ping: a connect that finds a live session checks it first (its health interval passed).
	Ping bool
	// Message, when set, is what a login request tells the person.
	Message string
}

// Outcome is what one step did. Err is nil on success.
type Outcome struct {
	Step Step
	Err  error
	// At is when the step finished (the clock, not Facts.Now).
	At time.Time

	// Record is the token the step left current (refresh, ingest, conflict reload).
	Record *tokenstore.Record
	// Discovery is discovery's answer.
	Discovery *oauth.Discovery
	// Info is what a connect saw; Dialed says it opened a new session, Dropped that a live
	// session was lost and could not be redialled.
	Info            *mcpconn.Info
	Dialed, Dropped bool
	// Unauthorized: a connect was refused with 401; Forbidden: with 403 (insufficient scope).
	Unauthorized, Forbidden bool
	// Challenge is the refusal's status and WWW-Authenticate header, when the server refused
	// a request after initialize.
	Challenge *oauth.LaterChallenge
	// Conflict: a save lost to a newer revision. StoreErr: the store refused a write.
	Conflict bool
	StoreErr error
	// Permanent: the authorization server rejected the refresh token (not worth retrying).
	Permanent bool
	// RetryAfter is what the authorization server asked for with a transient failure.
	RetryAfter time.Duration
	// CorrelationID ties a refresh's log lines, events and status together.
	CorrelationID string
	// Duration of the network call (refresh), for metrics.
	Duration time.Duration
	// Took is how long the whole step took, and Saved how much of it the token store's save
	// (with its fsync) took, for the manager's phase metrics.
	Took, Saved time.Duration
}

// Outcomes is the record of one pass.
type Outcomes []Outcome

// last returns the newest outcome of kind k, or nil.
func (o Outcomes) last(k StepKind) *Outcome {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].Step.Kind == k {
			return &o[i]
		}
	}
	return nil
}

func (o Outcomes) count(k StepKind) int {
	n := 0
	for i := range o {
		if o[i].Step.Kind == k {
			n++
		}
	}
	return n
}

// handOverDone reports whether hand-over i was acted on.
func (o Outcomes) handOverDone(i int) bool {
	for _, x := range o {
		if (x.Step.Kind == StepIngestHandOver || x.Step.Kind == StepRejectHandOver) && x.Step.HandOver == i {
			return true
		}
	}
	return false
}

// storeFailed reports whether a write to the store failed in this pass.
func (o Outcomes) storeFailed() *Outcome {
	for i := range o {
		if o[i].StoreErr != nil {
			return &o[i]
		}
	}
	return nil
}

// laterChallenge is the refusal the newest connect met after initialize, or nil.
func laterChallenge(o Outcomes) *oauth.LaterChallenge {
	if x := o.last(StepConnect); x != nil {
		return x.Challenge
	}
	return nil
}
