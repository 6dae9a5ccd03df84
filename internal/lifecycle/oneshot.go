package lifecycle

import (
	"context"
	"net/http"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
)

// OneShotSessions is the Sessions of tokens that keep no live session (Config.OneShot): Ensure
// dials, which sends initialize and tools/list with the token, and closes the session at once.
// Nothing is held between passes, so ten thousand credentials cost no connections, and a
// refreshed token reaches no session (Get is always nil).
type OneShotSessions struct {
	// ClientName is the MCP client name announced in initialize.
	ClientName string
	// Base sends the requests; it must end in a *netguard.Transport (mcpconn.Options.Base).
	Base http.RoundTripper
	// Limits bound what the server's answers may hold.
	Limits mcpconn.Limits
}

var _ Sessions = OneShotSessions{}

// Ensure proves token against target with one session, closed before it returns. The closed
// session is returned for what it saw (Info); dialed is always true.
func (v OneShotSessions) Ensure(ctx context.Context, _ string, target mcpconn.Target, token string) (*mcpconn.Session, bool, error) {
	s, err := mcpconn.Dial(ctx, target, mcpconn.Options{ClientName: v.ClientName, Token: token, Base: v.Base, Limits: v.Limits})
	if err != nil {
		return nil, false, err
	}
	_ = s.Close()
	return s, true, nil
}

// Get returns nil: no session is kept.
func (OneShotSessions) Get(string) *mcpconn.Session { return nil }

// Close does nothing: no session is kept.
func (OneShotSessions) Close(string) {}
