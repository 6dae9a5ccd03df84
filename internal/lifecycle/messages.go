package lifecycle

import (
	"fmt"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

const (
	logoutMessage    = "Logged out: the token was revoked and deleted"
	suspendedMessage = "spec.suspend is true: the session is closed and refreshes are stopped; the token is kept"
	noAuthMessage    = "The server needs no OAuth token"
	// perSubjectSessionMessage: a PerSubject server's Connected.
	perSubjectSessionMessage = "credentialMode is PerSubject: the server keeps no session of its own; " +
		"each UpstreamCredential's token is checked with one MCP request when it is obtained or refreshed"
	// perSubjectLoginMessage: a PerSubject server's AuthorizationRequired.
	perSubjectLoginMessage = "credentialMode is PerSubject: nobody logs in for the server itself; " +
		"each person logs in for their own UpstreamCredential"
	// maxReasonLength bounds a failure reason copied into status.
	maxReasonLength = 512
)

// failureReason is an error as status may show it: redacted and bounded.
func failureReason(err error) string {
	s := oauth.Redact(err.Error())
	if len(s) > maxReasonLength {
		s = s[:maxReasonLength]
	}
	return s
}

func expiredMessage(reason string) string {
	if reason == ReasonRefreshTokenRejected {
		return "The authorization server rejected the refresh token and the access token expired"
	}
	return "The access token expired and there is no usable refresh token"
}

func rejectedMessage(x Outcome) string {
	return "The authorization server rejected the refresh token (" + failureReason(x.Err) + ")"
}

func failingMessage(f *Facts, o Outcomes) string {
	m := refreshMemory(f, o)
	var n int32
	var last string
	if m != nil {
		n, last = m.FailedAttempts, m.LastFailureReason
	}
	return fmt.Sprintf("The access token expired and %d refresh attempts failed (last: %s); retrying with backoff", n, last)
}

func discoveryMessage(x Outcome) string {
	return "Could not discover how the server is protected: " + oauth.Redact(x.Err.Error())
}

func handOverMessage(f *Facts, x Outcome) string {
	why := x.Step.Reason
	switch {
	case x.Err != nil:
		why = x.Err.Error()
	case f.HandOvers[x.Step.HandOver].Err != nil:
		why = f.HandOvers[x.Step.HandOver].Err.Error()
	}
	return fmt.Sprintf("Login hand-over %s was rejected: %s", f.HandOvers[x.Step.HandOver].Name, why)
}

// loginMessage is what a login request tells the person, before "Run: <command>".
func loginMessage(f *Facts, o Outcomes, s Step) string {
	if s.Message != "" {
		return s.Message
	}
	switch {
	case s.Expired:
		return expiredMessage(s.Reason)
	case s.Reason == ReasonNoToken:
		return "No token is stored for this server"
	case s.Reason == ReasonRefreshFailing:
		return failingMessage(f, o) + "; a login also fixes it"
	case s.Reason == ReasonRefreshTokenRejected:
		if x := o.last(StepRefresh); x != nil && x.Err != nil {
			return rejectedMessage(*x)
		}
	}
	return "A login is needed"
}

// perSubjectMessage is a PerSubject server's Authenticated once discovery found its
// authorization server.
func perSubjectMessage(issuer string) string {
	return "credentialMode is PerSubject: the server holds no token of its own; its authorization server " +
		oauth.RedactURL(issuer) + " was discovered, and each UpstreamCredential holds a token from it"
}

// throttledMessage explains a refresh held back by the floor between refreshes.
func throttledMessage(f *Facts, rec *tokenstore.Record) string {
	lifetime := "unknown"
	if rec != nil && !rec.Expiry.IsZero() {
		lifetime = rec.Expiry.Sub(issuedAt(rec)).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("The token is due for a refresh again right after the last one (lifetime %s, "+
		"refreshBefore too long or a token that is rejected at once); refreshes are held to one per %s",
		lifetime, minRefreshInterval(f))
}
