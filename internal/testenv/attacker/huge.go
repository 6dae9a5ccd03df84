package attacker

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// GiB is the size of the answer Huge sends.
const GiB = 1 << 30

// Huge is a loopback MCP server that lets every request through without a token and answers
// initialize with 1 GiB of JSON-RPC, as application/json or as one server-sent event,
// generated as it is written: the test never holds it. It stops writing when stop closes (a
// heap watch tripped) or the client hangs up.
type Huge struct {
	*httptest.Server
	// Answers counts the requests answered; Written the bytes of answer written.
	Answers, Written atomic.Int64
}

// NewHuge starts a Huge server, closed when the test ends.
func NewHuge(t testing.TB, eventStream bool, stop <-chan struct{}) *Huge {
	t.Helper()
	h := &Huge{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
		h.Answers.Add(1)
		head := `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"`
		if eventStream {
			w.Header().Set("Content-Type", "text/event-stream")
			head = "event: message\ndata: " + head
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = io.WriteString(w, head)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := int64(0); sent < GiB; sent += int64(len(chunk)) {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up: what it should do
			}
			h.Written.Add(int64(len(chunk)))
		}
		_, _ = io.WriteString(w, `","version":"v0"}}}`+"\n\n")
	}))
	t.Cleanup(h.Close)
	return h
}

// WatchHeap samples this process's heap every 5 ms until stopped and reports its peak; past
// max it closes trip, so a Huge server stops feeding a client that does not bound what it
// reads before the machine runs out of memory.
func WatchHeap(max uint64, trip chan struct{}) (peak func() uint64, stop func()) {
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
			top.Store(maxOf(top.Load(), maxOf(ms.HeapInuse, ms.HeapAlloc)))
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
	var once atomic.Bool
	return top.Load, func() {
		if once.CompareAndSwap(false, true) {
			close(done)
			<-finished
		}
	}
}

func maxOf(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
