package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// maxEndpointsPerServer bounds the legacy SSE message paths remembered per server.
const maxEndpointsPerServer = 16

// overlongEndpoint stands for an endpoint event's data line longer than the rewriter's
// buffer: it is refused, never held.
const overlongEndpoint = "\x00overlong"

// endpointRewriter passes an event stream through line by line, rewriting the data of
// `endpoint` events (legacy SSE transport). It holds at most its 16 KiB buffer: a longer line
// passes through in pieces (only its start is looked at), so an upstream cannot make the
// gateway hold a line of any size.
type endpointRewriter struct {
	src     *bufio.Reader
	closer  io.Closer
	pending []byte
	event   string
	// midLine: the last piece read ended inside a line longer than the buffer; skipLine: the
	// rest of that line is dropped (an overlong endpoint, already replaced).
	midLine, skipLine bool
	rewrite           func(string) string
}

func newEndpointRewriter(body io.ReadCloser, rewrite func(string) string) io.ReadCloser {
	return &endpointRewriter{src: bufio.NewReaderSize(body, 16<<10), closer: body, rewrite: rewrite}
}

func (e *endpointRewriter) Read(p []byte) (int, error) {
	for len(e.pending) == 0 {
		piece, err := e.src.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(piece) > 0 {
			e.pending = e.next(piece, full)
		}
		if err != nil && !full {
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

// next handles one piece of the stream: a whole line, or part of a line longer than the
// buffer (full). The piece is the reader's buffer: what is kept is copied.
func (e *endpointRewriter) next(piece []byte, full bool) []byte {
	lineStart := !e.midLine
	e.midLine = full
	switch {
	case e.skipLine:
		e.skipLine = full
		return nil
	case !lineStart:
		return append([]byte(nil), piece...)
	case !full:
		return []byte(e.process(string(piece)))
	case e.event == "endpoint" && bytes.HasPrefix(piece, []byte("data:")):
		e.skipLine = true
		return []byte("data: " + e.rewrite(overlongEndpoint) + "\n")
	case bytes.HasPrefix(piece, []byte("event:")):
		e.event = "" // an overlong event name is no endpoint event
	}
	return append([]byte(nil), piece...)
}

// process handles one whole line of the stream (with its line ending).
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
	if data == overlongEndpoint {
		u.g.log.Info("Refused an overlong SSE endpoint", "server", nn.String())
		return prefix + "/sse-endpoint/refused"
	}
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
