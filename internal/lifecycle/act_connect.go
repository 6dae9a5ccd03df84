package lifecycle

import (
	"context"
	"errors"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// connect opens or keeps the MCP session with the current token (none for a NoToken step),
// and pings a kept session when the plan says its check is due. A session that fails its ping
// is redialled once: a dropped session is not a failed server.
func (r *Runner) connect(ctx context.Context, p Pass, rec *tokenstore.Record, s Step) Outcome {
	f := p.Facts
	key := f.Config.SessionKey
	token := ""
	if rec != nil && !s.NoToken {
		token = rec.AccessToken
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	sess, dialed, err := r.Sessions.Ensure(cctx, key, f.Config.Target, token)
	dropped := false
	if err == nil && !dialed && s.Ping {
		if err = sess.Ping(cctx); err != nil {
			r.Sessions.Close(key)
			dropped = true
			sess, dialed, err = r.Sessions.Ensure(cctx, key, f.Config.Target, token)
		}
	}
	switch {
	case err == nil:
		sess.MarkChecked(f.Now)
		info := sess.Info()
		switch {
		case f.Config.OneShot:
			p.Log.Info("The MCP server accepted the token", "server", info.Name, "tools", info.Tools)
		case dialed:
			p.Log.Info("Connected", "server", info.Name, "protocolVersion", info.ProtocolVersion, "tools", info.Tools)
		}
		return Outcome{Info: &info, Dialed: dialed}
	case errors.Is(err, mcpconn.ErrUnauthorized), errors.Is(err, mcpconn.ErrForbidden):
		p.Log.Info("The MCP server refused the credentials", "reason", oauth.Redact(err.Error()))
		out := Outcome{Err: err, Unauthorized: errors.Is(err, mcpconn.ErrUnauthorized), Forbidden: errors.Is(err, mcpconn.ErrForbidden)}
		var ce *mcpconn.ChallengeError
		if errors.As(err, &ce) {
			out.Challenge = &oauth.LaterChallenge{Status: ce.Status, Header: ce.Header}
		}
		return out
	}
	p.Log.Info("Connection failed", "reason", oauth.Redact(err.Error()))
	return Outcome{Err: err, Dropped: dropped}
}
