package lifecycle

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Facts is everything observe gathered for one pass. It holds no I/O handle: Plan and the
// status functions read it, and only Run's working copy of Record changes as steps succeed.
type Facts struct {
	Now time.Time

	// ConfigErr says the config could not be resolved (a missing Secret, say); nothing is done.
	ConfigErr error
	// Config is the resolved config: how to reach the MCP server and its authorization server.
	Config Config
	// Suspended stops refreshes and closes the session; the token is kept.
	Suspended bool

	// Key addresses the stored token; StoreErr says it could not be read.
	Key      tokenstore.Key
	StoreErr error
	Record   *tokenstore.Record
	// Unsaved is a refreshed token whose save failed on an earlier pass: it is saved first.
	Unsaved *Unsaved

	// HandOvers are the login hand-overs waiting, oldest first, each validated by observe.
	HandOvers []HandOver
	// LogoutRequested, RefreshRequested: a person asked (annotation values not yet handled).
	LogoutRequested, RefreshRequested bool
	// RejectedRevision is the newest stored revision an upstream rejected (gateway), or zero.
	RejectedRevision uint64

	Session SessionFacts
	// Verified (OneShot only): the MCP server already accepted the stored token (Record), so
	// it is not checked again until a new token replaces it.
	Verified bool
	// Prev is the status as the last pass left it: failure memory and pending requests.
	Prev Status
	// PrevCurrent is true when Prev was written for the current config (observedGeneration).
	PrevCurrent bool
}

// Config is the resolved config of the object the token is attached to.
type Config struct {
	OAuth  oauth.Config
	Target mcpconn.Target
	// StaticOnly: static headers (an API key) and no OAuth declared.
	StaticOnly bool
	// RefreshBefore overrides the default refresh margin; nil means the default.
	RefreshBefore *time.Duration
	// MinRefreshInterval is the floor between two refreshes (DefaultMinRefreshInterval if 0).
	MinRefreshInterval time.Duration
	// HealthInterval is how often a live session is pinged.
	HealthInterval time.Duration
	// SessionKey names the session in the pool; JitterKey spreads refresh times.
	SessionKey, JitterKey string
	// LoginCommand is what a person runs when asked to log in.
	LoginCommand string
	// BrowserLogin is true when the manager may open a browser itself (--browser-login).
	BrowserLogin bool
	// PerSubject: the server's credentialMode is PerSubject, so it holds no user token of its
	// own. A shared token left from Shared mode is revoked, no login is asked for, and only
	// discovery runs (observe rejects the server's hand-overs); each credential holds a token.
	PerSubject bool
	// OneShot: no live session is kept (a credential; thousands must stay cheap). A token is
	// proven by one authenticated MCP request (initialize and tools/list, then closed) when
	// it is obtained or refreshed, and not again until the next one: see Facts.Verified.
	OneShot bool
}

// Unsaved is a refreshed token kept in memory after its save failed.
type Unsaved struct {
	Record         *tokenstore.Record
	ExpectRevision uint64
}

// HandOver is one login hand-over, validated: Record is set when valid, Err when not.
type HandOver struct {
	Name   string
	Record *tokenstore.Record
	Err    error
	// CreatedAt is when the API server created the hand-over (zero when unknown).
	CreatedAt time.Time
}

// SessionFacts is what the pool says of the token's live session.
type SessionFacts struct {
	Present, Healthy bool
	// Unauthorized: the server answered 401 to the current token.
	Unauthorized bool
	// CheckedAt is when the session was last verified (dial or ping).
	CheckedAt time.Time
}

// usable reports whether rec holds an access token that has not expired at the pass's time.
func (f *Facts) usable(rec *tokenstore.Record) bool {
	return rec != nil && rec.AccessToken != "" && (rec.Expiry.IsZero() || f.Now.Before(rec.Expiry))
}
