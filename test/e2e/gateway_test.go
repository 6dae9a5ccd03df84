package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// gatewayClient calls tools of one server through the manager's MCP gateway, as a workload
// would: it holds no upstream token (loopback callers need none with
// --gateway-allow-loopback-unauthenticated), the gateway adds the controller's current one.
type gatewayClient struct {
	endpoint string
	session  *mcp.ClientSession
	ok, fail int
	lastErr  error
}

func newGatewayClient(m *manager, ns, name string) *gatewayClient {
	return &gatewayClient{endpoint: fmt.Sprintf("http://%s/servers/%s/%s/mcp", m.gateway, ns, name)}
}

// echo calls tools/call echo once, opening a session first when there is none; a failed call
// drops the session so the next one starts afresh.
func (g *gatewayClient) echo(text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.call(ctx, text)
	if err != nil {
		g.fail++
		g.lastErr = err
		g.close()
		return err
	}
	g.ok++
	return nil
}

func (g *gatewayClient) call(ctx context.Context, text string) error {
	if g.session == nil {
		c := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-e2e", Version: "v1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.endpoint, MaxRetries: 1}, nil)
		if err != nil {
			return fmt.Errorf("opening a session through the gateway: %w", err)
		}
		g.session = s
	}
	res, err := g.session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return fmt.Errorf("tools/call echo: %w", err)
	}
	if res.IsError || len(res.Content) != 1 {
		return fmt.Errorf("tools/call echo answered an error or %d contents", len(res.Content))
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != text {
		return fmt.Errorf("tools/call echo answered %#v, want %q", res.Content[0], text)
	}
	return nil
}

func (g *gatewayClient) close() {
	if g.session != nil {
		_ = g.session.Close()
		g.session = nil
	}
}
