package gateway

import (
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/types"
)

// A sync rebuilds the catalog from every session; a session whose tool list did not change
// shows the very same exposed tools (not exposed again), and a relisted one shows new ones.
func TestRebuildExposesEachToolListOnce(t *testing.T) {
	tool := func(name string) *mcp.Tool {
		return &mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}
	}
	a := &upstreamConn{key: connKey{nn: types.NamespacedName{Namespace: "ns", Name: "a"}}}
	a.setTools([]*mcp.Tool{tool("echo"), tool("whoami")})
	c := &catalog{conns: map[connKey]*upstreamConn{a.key: a}, tools: map[string]*exposedTool{}}
	if !c.rebuild() {
		t.Fatal("the first rebuild changed nothing")
	}
	first := c.tools["ns.a.echo"]

	b := &upstreamConn{key: connKey{nn: types.NamespacedName{Namespace: "ns", Name: "b"}}}
	b.setTools([]*mcp.Tool{tool("echo")})
	c.conns[b.key] = b
	if !c.rebuild() {
		t.Fatal("adding a server changed nothing")
	}
	if c.tools["ns.a.echo"] != first {
		t.Fatal("an unchanged server's tool was exposed again")
	}
	if c.rebuild() {
		t.Fatal("a rebuild with nothing new reported a change")
	}

	a.setTools([]*mcp.Tool{tool("echo"), tool("whoami")}) // relisted: the same names, new objects
	c.rebuild()
	if c.tools["ns.a.echo"] == first {
		t.Fatal("a relisted server kept its old exposed tool")
	}
	if got := len(c.tools); got != 3 {
		t.Fatalf("%d tools, want 3", got)
	}
}
