package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// probeTransport sends every probe request: the binary's default egress policy, and the token
// only to the origin of the URL it was obtained for.
var probeTransport = netguard.NewTransport(netguard.Default(), netguard.TransportOptions{})

// errUnauthorized means the MCP server refused the credentials with 401.
var errUnauthorized = errors.New("the MCP server answered 401 Unauthorized")

// probeTool is one listed tool.
type probeTool struct{ Name, Description string }

// probeResult is what a probe learned.
type probeResult struct {
	Name, Version, ProtocolVersion, Auth string
	Tools                                []probeTool
}

// bearer hands the token, bound to the probed URL, to probeTransport and notes a 401.
type bearer struct {
	url, token string
	saw401     atomic.Bool
}

// RoundTrip sends req; the token goes only to the probed URL's origin.
func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.token != "" {
		req = req.WithContext(netguard.WithCredentials(req.Context(), &netguard.Credentials{BoundURL: b.url, Bearer: b.token}))
	}
	resp, err := probeTransport.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		b.saw401.Store(true)
	}
	return resp, err
}

// dialProbe runs initialize and tools/list, then closes the session.
func dialProbe(ctx context.Context, url, transport, token string) (*probeResult, error) {
	b := &bearer{url: url, token: token}
	hc := &http.Client{Transport: b, CheckRedirect: netguard.CheckRedirect}
	var t mcp.Transport
	switch transport {
	case "sse":
		t = &mcp.SSEClientTransport{Endpoint: url, HTTPClient: hc}
	case "streamable-http", "":
		t = &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}
	default:
		return nil, fmt.Errorf("unknown transport %q: use streamable-http or sse", transport)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-probe", Version: Version}, nil)
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		if b.saw401.Load() {
			return nil, fmt.Errorf("initialize: %w", errUnauthorized)
		}
		return nil, fmt.Errorf("initialize: %w", err)
	}
	defer func() { _ = cs.Close() }()
	res := &probeResult{}
	if init := cs.InitializeResult(); init != nil {
		res.ProtocolVersion = init.ProtocolVersion
		if init.ServerInfo != nil {
			res.Name, res.Version = init.ServerInfo.Name, init.ServerInfo.Version
		}
	}
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			if b.saw401.Load() {
				return nil, fmt.Errorf("tools/list: %w", errUnauthorized)
			}
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		res.Tools = append(res.Tools, probeTool{Name: tool.Name, Description: tool.Description})
	}
	return res, nil
}
