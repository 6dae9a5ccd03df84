package mcpconn

import (
	"net/http"
	"sync/atomic"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// defaultTransport sends the requests of sessions whose owner gave no Base: the binary's
// default egress policy, one connection pool for them all.
var defaultTransport = netguard.NewTransport(netguard.Default(), netguard.TransportOptions{})

// refusal is a 401 or 403 the server answered, numbered so a call can tell whether it met one
// itself (seq advanced since it began) rather than an earlier call.
type refusal struct {
	seq    uint64
	status int
	header http.Header
}

// bearerTransport hands the session's current credentials (token and static headers, bound
// to the URL the session was dialled for) to the base transport, which attaches them only to
// that URL's origin, notices when the server refuses them, and bounds every answer's body
// (Limits). It never refreshes: a 401 is reported to the session's owner, and only the
// reconciler ever spends a refresh token.
type bearerTransport struct {
	base     http.RoundTripper
	creds    *atomic.Pointer[netguard.Credentials]
	limits   Limits
	exceeded func(*LimitError)
	refused  atomic.Pointer[refusal]
	seq      atomic.Uint64
	on401    func()
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c := t.creds.Load(); c != nil {
		req = req.WithContext(netguard.WithCredentials(req.Context(), c))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	boundBody(resp, t.limits, t.exceeded)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		t.refused.Store(&refusal{seq: t.seq.Add(1), status: resp.StatusCode, header: resp.Header.Clone()})
	}
	if resp.StatusCode == http.StatusUnauthorized && t.on401 != nil {
		t.on401()
	}
	return resp, nil
}

// mark is the refusal count now: refusedSince(mark) reports only refusals met after it.
func (t *bearerTransport) mark() uint64 { return t.seq.Load() }

// refusedSince is the last refusal met after mark, as the ChallengeError of method, or nil.
func (t *bearerTransport) refusedSince(mark uint64, method string) *ChallengeError {
	r := t.refused.Load()
	if r == nil || r.seq <= mark {
		return nil
	}
	return &ChallengeError{Method: method, Status: r.status, Header: r.header}
}
