package lifecycle

import (
	"context"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Store is the persisted token records (internal/tokenstore.Store).
type Store interface {
	Load(k tokenstore.Key) (*tokenstore.Record, error)
	Save(k tokenstore.Key, r *tokenstore.Record, expectRevision uint64) (uint64, error)
	DeleteServer(namespace, name string) (int, error)
}

// OAuth is the network side of OAuth (internal/oauth).
type OAuth interface {
	Discover(ctx context.Context, cfg oauth.Config) (*oauth.Discovery, error)
	Refresh(ctx context.Context, r oauth.RefreshRequest) (*oauth.Token, error)
	Revoke(ctx context.Context, endpoint string, client oauth.ClientRegistration, token, hint string) error
}

// Sessions is the pool of live MCP sessions (internal/mcpconn.Pool).
type Sessions interface {
	Ensure(ctx context.Context, key string, target mcpconn.Target, token string) (*mcpconn.Session, bool, error)
	Get(key string) *mcpconn.Session
	Close(key string)
}

// Owner is what the object the token is attached to does for the lifecycle: Kubernetes I/O
// the lifecycle must not know about. Neither call may block for long.
type Owner interface {
	// DeleteHandOver deletes a hand-over that was ingested or rejected.
	DeleteHandOver(ctx context.Context, name string) error
	// OfferBrowserLogin starts a browser login (manager --browser-login); it must not block.
	OfferBrowserLogin()
}
