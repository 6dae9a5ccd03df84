package mcpconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const gib = 1 << 30

// hugeServer answers initialize with a 1 GiB JSON-RPC answer, as application/json or as one
// server-sent event, generated as it is written: the test never holds it. It stops writing
// when stop closes (the heap watchdog tripped) or the client goes away, and counts what it
// wrote.
func hugeServer(t *testing.T, eventStream bool, stop <-chan struct{}) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var written atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
		head := `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"`
		if eventStream {
			w.Header().Set("Content-Type", "text/event-stream")
			head = "event: message\ndata: " + head
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = io.WriteString(w, head)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := int64(0); sent < gib; sent += int64(len(chunk)) {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up: what it should do
			}
			written.Add(int64(len(chunk)))
		}
		_, _ = io.WriteString(w, `","version":"v0"}}}`+"\n\n")
	}))
	t.Cleanup(hs.Close)
	return hs, &written
}

// heapWatch samples the heap until stopped and reports its peak; past max it closes trip, so
// the server stops feeding a client that does not bound what it reads (today's code) before
// the machine runs out of memory.
func heapWatch(max uint64, trip chan struct{}) (peak func() uint64, stop func()) {
	var top atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		tripped := false
		for {
			runtime.ReadMemStats(&ms)
			if h := max64(ms.HeapInuse, ms.HeapAlloc); h > top.Load() {
				top.Store(h)
			}
			if top.Load() > max && !tripped {
				tripped = true
				close(trip)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return top.Load, func() { close(done); <-finished }
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// A 1 GiB initialize answer, streamed, crosses the response body bound (JSON) or the event
// bound (an event stream): Dial fails with a *LimitError naming it, and the heap stays far
// from the answer's size.
func TestHugeInitializeAnswerIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		eventStream bool
		limit       string
	}{{"json", false, LimitResponseBody}, {"event stream", true, LimitEvent}} {
		t.Run(tc.name, func(t *testing.T) {
			const maxHeap = 256 << 20
			trip := make(chan struct{})
			hs, written := hugeServer(t, tc.eventStream, trip)
			runtime.GC()
			peak, stopWatch := heapWatch(maxHeap, trip)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := Dial(ctx, Target{URL: hs.URL}, Options{ClientName: "test"})
			stopWatch()
			if err == nil {
				_ = s.Close()
			}
			if p := peak(); p > maxHeap {
				t.Fatalf("heap peaked at %d MiB (bound %d MiB) while reading a 1 GiB answer; the server wrote %d MiB",
					p>>20, maxHeap>>20, written.Load()>>20)
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit || le.Max != DefaultLimits().MaxResponseBytes {
				t.Fatalf("Dial: %v; want a *LimitError for the %s bound", err, tc.limit)
			}
			if !strings.Contains(err.Error(), tc.limit) {
				t.Fatalf("the error does not say which bound: %v", err)
			}
		})
	}
}

// manyTools serves n tools, each with a description of descBytes.
func manyTools(t *testing.T, n, descBytes int) *httptest.Server {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "many", Version: "v0"}, nil)
	desc := strings.Repeat("d", descBytes)
	for i := 0; i < n; i++ {
		srv.AddTool(&mcp.Tool{Name: fmt.Sprintf("t%04d", i), Description: desc, InputSchema: map[string]any{"type": "object"}}, noop)
	}
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	return hs
}

// Tool lists are capped per server (count, and each kept tool's size), settable by the
// caller; a list within the bounds is taken whole.
func TestToolListsAreBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name          string
		tools, desc   int
		limits        Limits
		keep          bool
		want          string // "" for success
		wantMax       int64
		wantToolCount int
	}{
		{"over the default count", 1001, 0, Limits{}, false, LimitTools, 1000, 0},
		{"over a caller's count", 11, 0, Limits{MaxTools: 10}, true, LimitTools, 10, 0},
		{"a kept tool too large", 3, 4 << 10, Limits{MaxToolBytes: 2 << 10}, true, LimitToolSize, 2 << 10, 0},
		{"a counted tool is not measured", 3, 4 << 10, Limits{MaxToolBytes: 2 << 10}, false, "", 0, 3},
		{"within the bounds", 1000, 0, Limits{}, true, "", 0, 1000},
		// Each tool is within its own bound, but kept together they would hold the manager's
		// memory for as long as the session lives.
		{"kept tools too large together", 40, 3 << 10, Limits{MaxToolsBytes: 64 << 10}, true, LimitToolsSize, 64 << 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := manyTools(t, tc.tools, tc.desc)
			s, err := Dial(ctx, Target{URL: hs.URL}, Options{ClientName: "test", Limits: tc.limits, KeepTools: tc.keep})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.Info().Tools != tc.wantToolCount {
					t.Fatalf("listed %d tools, want %d", s.Info().Tools, tc.wantToolCount)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tc.want || le.Max != tc.wantMax {
				t.Fatalf("Dial: %v; want the %s bound (%d)", err, tc.want, tc.wantMax)
			}
		})
	}
}

// An event stream stays open as long as each event is within the bound: many events whose
// sum passes the per-event bound are read.
func TestEventBoundIsPerEvent(t *testing.T) {
	var body strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&body, "data: %s\r\n\r\n", strings.Repeat("x", 100))
	}
	var got *LimitError
	b := &eventBound{src: io.NopCloser(strings.NewReader(body.String())), max: 200, exceeded: func(e *LimitError) { got = e }}
	if n, err := io.Copy(io.Discard, b); err != nil || got != nil || n != int64(body.Len()) {
		t.Fatalf("read %d of %d bytes: %v (crossed %v)", n, body.Len(), err, got)
	}
	b = &eventBound{src: io.NopCloser(strings.NewReader("data: " + strings.Repeat("x", 300) + "\n\n")), max: 200,
		exceeded: func(e *LimitError) { got = e }}
	if _, err := io.Copy(io.Discard, b); !errors.As(err, new(*LimitError)) || got == nil {
		t.Fatalf("a 300-byte event passed a 200-byte bound: %v", err)
	}
}
