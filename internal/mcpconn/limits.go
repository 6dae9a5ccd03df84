package mcpconn

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
)

// The names of the bounds a LimitError reports (LimitError.Limit).
const (
	// LimitResponseBody bounds a whole answer that is not an event stream (a JSON answer,
	// and any non-2xx answer, whatever its type).
	LimitResponseBody = "response body"
	// LimitEvent bounds one server-sent event; an event stream itself may stay open for hours.
	LimitEvent = "event"
	// LimitTools bounds the tools one server lists.
	LimitTools = "tools"
	// LimitToolSize bounds one tool's definition, JSON-encoded (its schemas included).
	LimitToolSize = "tool size"
	// LimitToolPages bounds the pages of one tools/list.
	LimitToolPages = "tool pages"
	// LimitToolsSize bounds the kept tools of one server together, JSON-encoded.
	LimitToolsSize = "tools size"
)

// Limits bound what a session reads from its server, so one hostile or broken server cannot
// exhaust the memory of the process holding every other server's session. Zero fields take
// the defaults (DefaultLimits); they are ample for real servers.
type Limits struct {
	// MaxResponseBytes bounds a whole answer that is not a 2xx event stream (default 4 MiB).
	// Decoding multiplies an answer's size about tenfold in memory, for a moment.
	MaxResponseBytes int64
	// MaxEventBytes bounds one server-sent event (default 4 MiB).
	MaxEventBytes int64
	// MaxTools bounds the tools of one server (default 1,000).
	MaxTools int
	// MaxToolBytes bounds one tool's JSON-encoded definition (default 64 KiB).
	MaxToolBytes int
	// MaxToolsBytes bounds the kept tools of one server together, JSON-encoded (default
	// 4 MiB): decoded schemas are held for as long as the session lives, about ten times
	// their encoded size.
	MaxToolsBytes int
	// MaxToolPages bounds the pages of one tools/list (default 100).
	MaxToolPages int
}

// DefaultLimits are the limits of sessions whose owner sets none.
func DefaultLimits() Limits {
	return Limits{MaxResponseBytes: 4 << 20, MaxEventBytes: 4 << 20, MaxTools: 1000, MaxToolBytes: 64 << 10,
		MaxToolsBytes: 4 << 20, MaxToolPages: 100}
}

// WithDefaults returns l with every unset (zero or negative) field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = d.MaxResponseBytes
	}
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = d.MaxEventBytes
	}
	if l.MaxTools <= 0 {
		l.MaxTools = d.MaxTools
	}
	if l.MaxToolBytes <= 0 {
		l.MaxToolBytes = d.MaxToolBytes
	}
	if l.MaxToolsBytes <= 0 {
		l.MaxToolsBytes = d.MaxToolsBytes
	}
	if l.MaxToolPages <= 0 {
		l.MaxToolPages = d.MaxToolPages
	}
	return l
}

// LimitError is a server's answer that crossed one of the Limits. The session that read it
// is closed. Limit is one of the Limit* names; Max is the bound (bytes, tools or pages).
type LimitError struct {
	Limit string
	Max   int64
}

func (e *LimitError) Error() string {
	unit := "bytes"
	switch e.Limit {
	case LimitTools:
		unit = "tools"
	case LimitToolPages:
		unit = "pages"
	}
	return fmt.Sprintf("the MCP server's answer crossed the %s limit (%d %s)", e.Limit, e.Max, unit)
}

// boundBody wraps resp's body in the bound that fits it. Only a successful event stream is
// bounded per event: it may legitimately stay open for hours. Everything else, error answers
// included (the SDK reads their bodies whole, whatever their type), is bounded in total.
func boundBody(resp *http.Response, l Limits, exceeded func(*LimitError)) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/event-stream" && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = &eventBound{src: resp.Body, max: l.MaxEventBytes, exceeded: exceeded}
		return
	}
	resp.Body = &totalBound{src: resp.Body, left: l.MaxResponseBytes, max: l.MaxResponseBytes, exceeded: exceeded}
}

// totalBound fails a read once more than max bytes came through.
type totalBound struct {
	src       io.ReadCloser
	left, max int64
	exceeded  func(*LimitError)
	once      sync.Once
}

func (b *totalBound) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.fail()
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the bound tells "exactly max" from "more"
	}
	n, err := b.src.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), b.fail()
	}
	return n, err
}

func (b *totalBound) fail() error {
	e := &LimitError{Limit: LimitResponseBody, Max: b.max}
	b.once.Do(func() { b.exceeded(e) })
	return e
}

func (b *totalBound) Close() error { return b.src.Close() }

// eventBound fails a read once one event (the bytes since the last blank line) is longer
// than max. It holds nothing: it only counts.
type eventBound struct {
	src      io.ReadCloser
	max, cur int64
	// nl is whether the last byte that was not '\r' was a line feed: a second one ends the
	// event.
	nl       bool
	exceeded func(*LimitError)
	err      *LimitError
}

func (b *eventBound) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	for i, c := range p[:n] {
		switch {
		case c == '\n' && b.nl:
			b.cur = 0
		case c == '\n':
			b.nl = true
		case c != '\r':
			b.nl = false
		}
		b.cur++
		if b.cur > b.max {
			b.err = &LimitError{Limit: LimitEvent, Max: b.max}
			b.exceeded(b.err)
			return i, b.err
		}
	}
	return n, err
}

func (b *eventBound) Close() error { return b.src.Close() }
