package gateway

import (
	"bytes"
	"net/http"
	"strings"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// maxObservedLine bounds the line the endpoint observer keeps; an endpoint event's data is a
// short URL, and longer lines (tool results) are only scanned for their end.
const maxObservedLine = 8 << 10

// endpointObserver sits between the reverse proxy and the caller on a legacy SSE stream and
// grants the caller the message URLs of the endpoint events it passes on (already rewritten to
// the gateway). It reads each chunk before writing it, so a grant exists before the caller can
// see the event and post to it.
type endpointObserver struct {
	http.ResponseWriter
	grant    func(data string)
	line     []byte
	overflow bool
	event    string
	checked  bool
	isStream bool
}

// observeEndpoints wraps w for a GET to a legacy SSE server; other requests are returned as is.
func (g *Gateway) observeEndpoints(w http.ResponseWriter, r *http.Request, id *Identity, us *mcpv1alpha1.UpstreamServer) http.ResponseWriter {
	if us.Spec.Transport != mcpv1alpha1.TransportSSE || r.Method != http.MethodGet {
		return w
	}
	return &endpointObserver{ResponseWriter: w, grant: func(data string) { g.grants.grant(id, us, data) }}
}

func (o *endpointObserver) Write(b []byte) (int, error) {
	if !o.checked {
		o.checked = true
		o.isStream = strings.HasPrefix(o.Header().Get("Content-Type"), "text/event-stream")
	}
	if o.isStream {
		o.scan(b)
	}
	return o.ResponseWriter.Write(b)
}

// scan feeds b into the line buffer and processes every completed line.
func (o *endpointObserver) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if len(o.line)+len(part) > maxObservedLine {
			o.overflow = true
		} else if !o.overflow {
			o.line = append(o.line, part...)
		}
		if i < 0 {
			return
		}
		if !o.overflow {
			o.process(strings.TrimSuffix(string(o.line), "\r"))
		}
		o.line, o.overflow = o.line[:0], false
		b = b[i+1:]
	}
}

// process follows the event type and grants the data of endpoint events, as the gateway's
// endpoint rewriter (sse.go) reads them.
func (o *endpointObserver) process(line string) {
	switch {
	case line == "":
		o.event = ""
	case strings.HasPrefix(line, "event:"):
		o.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
	case strings.HasPrefix(line, "data:") && o.event == "endpoint":
		o.grant(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
	}
}

// Flush sends buffered data to the client at once (the stream's events).
func (o *endpointObserver) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (o *endpointObserver) Unwrap() http.ResponseWriter { return o.ResponseWriter }
