package mcpconn

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// One SDK client serves every session of a client name and version. A client of its own per
// session cost 2 KiB (the SDK copies its method table into each), twice per server; a client
// keeps of a session only the session itself, until it ends. The SDK hands a tool-list change
// to the client's one handler with the session it came on, which routes it to that session's
// owner (Options.OnToolsChanged).
var clients = struct {
	mu sync.Mutex
	m  map[clientName]*mcp.Client
}{m: map[clientName]*mcp.Client{}}

// clientName is what a client says it is in initialize.
type clientName struct{ name, version string }

// toolsChanged is each live session's OnToolsChanged, by its SDK session.
var toolsChanged sync.Map // *mcp.ClientSession → func()

// clientFor is the shared client of that name and version.
func clientFor(name, version string) *mcp.Client {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	k := clientName{name, version}
	if c := clients.m[k]; c != nil {
		return c
	}
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: version}, &mcp.ClientOptions{ToolListChangedHandler: routeToolsChanged})
	clients.m[k] = c
	return c
}

// routeToolsChanged calls the OnToolsChanged of the session the change came on, if it has one.
func routeToolsChanged(_ context.Context, req *mcp.ToolListChangedRequest) {
	if f, ok := toolsChanged.Load(req.Session); ok {
		f.(func())()
	}
}
