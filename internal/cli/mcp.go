package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// probeTransport sends every probe request: the binary's default egress policy, and the token
// only to the origin of the URL it was obtained for.
var probeTransport = netguard.NewTransport(netguard.Default(), netguard.TransportOptions{})

// probeLimits bound what the probe reads from the server (mcpconn's defaults): a hostile
// server cannot exhaust the user's memory either.
var probeLimits = mcpconn.DefaultLimits()

// probeTool is one listed tool.
type probeTool struct{ Name, Description string }

// probeResult is what a probe learned.
type probeResult struct {
	Name, Version, ProtocolVersion, Auth string
	Tools                                []probeTool
}

// dialProbe runs initialize and tools/list through mcpconn (the token bound to url, answers
// bounded), then closes the session. A 401 or 403, at initialize or at tools/list, is a
// *mcpconn.ChallengeError carrying the server's WWW-Authenticate header.
func dialProbe(ctx context.Context, url, transport, token string) (*probeResult, error) {
	switch transport {
	case mcpconn.TransportSSE, mcpconn.TransportStreamableHTTP:
	case "":
		transport = mcpconn.TransportStreamableHTTP
	default:
		return nil, fmt.Errorf("unknown transport %q: use streamable-http or sse", transport)
	}
	s, err := mcpconn.Dial(ctx, mcpconn.Target{URL: url, Transport: transport}, mcpconn.Options{
		ClientName: "mcpproxy-probe", ClientVersion: Version, Token: token, Base: probeTransport,
		KeepTools: true, Limits: probeLimits,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Close() }()
	info := s.Info()
	res := &probeResult{Name: info.Name, Version: info.Version, ProtocolVersion: info.ProtocolVersion}
	for _, tool := range s.Tools() {
		res.Tools = append(res.Tools, probeTool{Name: tool.Name, Description: tool.Description})
	}
	return res, nil
}

// refusalOf is the 401 or 403 err carries, or nil.
func refusalOf(err error) *mcpconn.ChallengeError {
	var ce *mcpconn.ChallengeError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
