package mcpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	hostile "github.com/mcpproxy/mcpproxy-operator/internal/testenv/attacker"
)

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
			hs := hostile.NewHuge(t, tc.eventStream, trip)
			runtime.GC()
			peak, stopWatch := hostile.WatchHeap(maxHeap, trip)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := Dial(ctx, Target{URL: hs.URL}, Options{ClientName: "test"})
			stopWatch()
			if err == nil {
				_ = s.Close()
			}
			if p := peak(); p > maxHeap {
				t.Fatalf("heap peaked at %d MiB (bound %d MiB) while reading a 1 GiB answer; the server wrote %d MiB",
					p>>20, maxHeap>>20, hs.Written.Load()>>20)
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
