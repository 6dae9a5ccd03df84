package gateway_test

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
)

// lineGen is an event stream of one data line of n bytes, generated as it is read.
type lineGen struct{ left int }

func (g *lineGen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(p), g.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	g.left -= n
	if g.left == 0 {
		p[n-1] = '\n'
	}
	return n, nil
}

// The pass-through's SSE rewriter holds at most its buffer: a 256 MiB line passes through
// whole, in pieces, without the heap growing by it.
func TestEndpointRewriterHoldsNoLongLine(t *testing.T) {
	const size = 256 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewEndpointRewriter(io.NopCloser(io.MultiReader(strings.NewReader("data: "), &lineGen{left: size})), func(s string) string { return s })
	buf := make([]byte, 32<<10)
	var n int64
	var peak uint64
	var ms runtime.MemStats
	for i := 0; ; i++ {
		k, err := r.Read(buf)
		n += int64(k)
		if i%512 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		if err != nil {
			break
		}
	}
	if n != size+6 {
		t.Fatalf("passed %d bytes through, want %d", n, size+6)
	}
	if grew := int64(peak) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Fatalf("the heap grew by %d MiB passing one long line through", grew>>20)
	}
}

// An endpoint event whose data line is longer than the buffer is refused, not held.
func TestEndpointRewriterRefusesAnOverlongEndpoint(t *testing.T) {
	in := "event: endpoint\ndata: /messages?x=" + strings.Repeat("y", 100<<10) + "\n\nevent: message\ndata: {}\n\n"
	var seen []string
	r := NewEndpointRewriter(io.NopCloser(strings.NewReader(in)), func(s string) string { seen = append(seen, s); return "/refused" })
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("data: /refused\n\nevent: message\ndata: {}\n\n")) || len(out) > 1<<10 || len(seen) != 1 {
		t.Fatalf("rewrote to %d bytes (%q…), rewrite saw %d endpoints", len(out), out[:min(len(out), 80)], len(seen))
	}
}
