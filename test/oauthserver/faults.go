package oauthserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// FaultKind names a scripted token endpoint failure. The string is also
// the value of the fault parameter of /admin/fail-token.
type FaultKind string

const (
	// FaultServerError answers 500 with an RFC 6749 server_error body.
	FaultServerError FaultKind = "500"
	// FaultUnavailable answers 503 with Retry-After.
	FaultUnavailable FaultKind = "503"
	// FaultInvalidGrant answers 400 invalid_grant, as when a user revoked
	// access at the provider.
	FaultInvalidGrant FaultKind = "invalid_grant"
	// FaultInvalidClient answers 401 invalid_client, as when the client was
	// deleted at the provider.
	FaultInvalidClient FaultKind = "invalid_client"
	// FaultSlow waits Delay, then answers normally.
	FaultSlow FaultKind = "slow"
	// FaultMalformed answers 200 with a truncated JSON body.
	FaultMalformed FaultKind = "malformed"
)

// Fault is one scripted answer of the token endpoint.
type Fault struct {
	Kind FaultKind
	// RetryAfter is sent with FaultUnavailable (default 1s, whole seconds).
	RetryAfter time.Duration
	// Delay is how long FaultSlow waits (default 5s, wall clock, since the
	// point is to trip the client's real timeout).
	Delay time.Duration
}

// FailNextTokenRequests makes the next n token requests answer with f.
// Calls queue up, so a test can script 503, 503, then invalid_grant.
func (s *Server) FailNextTokenRequests(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// popFaultLocked takes the next scripted fault, if any.
func (s *Server) popFaultLocked() *Fault {
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	s.stats.TokenFaultsInjected++
	return &f
}

// applyFault answers with f and reports true, or, for a slow fault, waits
// and reports false so the request is then served normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f.Kind {
	case FaultServerError:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "injected fault"})
	case FaultUnavailable:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "injected fault"})
	case FaultInvalidGrant:
		errInvalidGrant("injected fault").write(w)
	case FaultInvalidClient:
		errInvalidClient("injected fault").write(w)
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"access_token": "trunc`)
	case FaultSlow:
		d := f.Delay
		if d <= 0 {
			d = 5 * time.Second
		}
		s.sleep(r, d)
		return false
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "unknown injected fault"})
	}
	return true
}

// sleep waits d of wall-clock time, or less if the client hangs up or the
// server closes. A client that hangs up does not cancel the work that
// follows, just as a real server finishes a request nobody waits for.
func (s *Server) sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.closed:
	}
}

// OutageMode is how /mcp and /sse misbehave during an injected outage.
type OutageMode string

const (
	// OutageNone ends an outage.
	OutageNone OutageMode = ""
	// Outage503 answers 503 with Retry-After: 1.
	Outage503 OutageMode = "503"
	// OutageDrop closes the connection without an answer.
	OutageDrop OutageMode = "drop"
)

// SetMCPOutage makes /mcp and /sse fail in mode for d, measured on the
// injected clock; d <= 0 means until SetMCPOutage(OutageNone, 0) or Reset.
func (s *Server) SetMCPOutage(mode OutageMode, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = mode
	s.outUntil = time.Time{}
	if d > 0 {
		s.outUntil = s.now().Add(d)
	}
}

// serveOutage answers the request if an outage is on and reports whether
// it did.
func (s *Server) serveOutage(w http.ResponseWriter) bool {
	s.mu.Lock()
	mode := s.outage
	if mode != OutageNone && !s.outUntil.IsZero() && !s.now().Before(s.outUntil) {
		s.outage, mode = OutageNone, OutageNone
	}
	if mode != OutageNone {
		s.stats.MCPOutageAnswers++
	}
	s.mu.Unlock()
	switch mode {
	case Outage503:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "injected outage", http.StatusServiceUnavailable)
	case OutageDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// HTTP/2 cannot hijack; aborting the handler resets the stream.
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
	default:
		return false
	}
	return true
}
