package gateway

import (
	"bufio"
	"io"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// maxEndpointsPerServer bounds the legacy SSE message paths remembered per server.
const maxEndpointsPerServer = 16

// endpointRewriter passes an event stream through line by line, rewriting the data of
// `endpoint` events (legacy SSE transport). It never holds more than one line.
type endpointRewriter struct {
	src     *bufio.Reader
	closer  io.Closer
	pending []byte
	event   string
	rewrite func(string) string
}

func newEndpointRewriter(body io.ReadCloser, rewrite func(string) string) io.ReadCloser {
	return &endpointRewriter{src: bufio.NewReaderSize(body, 16<<10), closer: body, rewrite: rewrite}
}

func (e *endpointRewriter) Read(p []byte) (int, error) {
	for len(e.pending) == 0 {
		line, err := e.src.ReadString('\n')
		if line != "" {
			e.pending = []byte(e.process(line))
		}
		if err != nil {
			if len(e.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

// process handles one line of the stream (with its line ending).
func (e *endpointRewriter) process(line string) string {
	body := strings.TrimRight(line, "\r\n")
	ending := line[len(body):]
	switch {
	case body == "":
		e.event = ""
	case strings.HasPrefix(body, "event:"):
		e.event = strings.TrimSpace(strings.TrimPrefix(body, "event:"))
	case strings.HasPrefix(body, "data:") && e.event == "endpoint":
		return "data: " + e.rewrite(strings.TrimSpace(strings.TrimPrefix(body, "data:"))) + ending
	}
	return line
}

func (e *endpointRewriter) Close() error { return e.closer.Close() }

// rewriteEndpoint maps the upstream's message endpoint to the gateway's own path for the
// server. An endpoint on another origin is refused (the server's token must not go there).
func (u *upstreams) rewriteEndpoint(us *mcpv1alpha1.UpstreamServer, streamURL *url.URL, data string) string {
	nn := upstream.Name(us)
	prefix := "/servers/" + nn.Namespace + "/" + nn.Name + "/mcp"
	ep, err := streamURL.Parse(data)
	if err != nil || ep.Scheme != streamURL.Scheme || ep.Host != streamURL.Host {
		u.g.log.Info("Refused an SSE endpoint on another origin", "server", nn.String())
		return prefix + "/sse-endpoint/refused"
	}
	q := ""
	if ep.RawQuery != "" {
		q = "?" + ep.RawQuery
	}
	spec, err := url.Parse(us.Spec.URL)
	if err == nil && ep.EscapedPath() == spec.EscapedPath() {
		return prefix + q
	}
	u.rememberEndpoint(nn, ep.Path)
	return prefix + "/sse-endpoint" + ep.EscapedPath() + q
}

func (u *upstreams) rememberEndpoint(nn types.NamespacedName, path string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	set := u.endpoints[nn]
	if set == nil {
		set = map[string]struct{}{}
		u.endpoints[nn] = set
	}
	if len(set) >= maxEndpointsPerServer {
		for k := range set {
			delete(set, k)
			break
		}
	}
	set[path] = struct{}{}
}

// endpointKnown reports whether path was handed out in an endpoint event of nn.
func (u *upstreams) endpointKnown(nn types.NamespacedName, path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.endpoints[nn][path]
	return ok
}
