package bench

import (
	"fmt"
	"strings"
	"testing"
)

// The runtime summary keeps the MemStats block and the largest goroutine groups with their
// stacks, and stops after ten groups.
func TestRuntimeProfileKeepsWhatRSSIsMadeOf(t *testing.T) {
	heap := "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n\n# runtime.MemStats\n# Alloc = 10\n# StackInuse = 20\n"
	if got := strings.Join(memStatsLines(strings.Split(heap, "\n")), "|"); got != "# runtime.MemStats|# Alloc = 10|# StackInuse = 20|" {
		t.Fatalf("memStatsLines = %q", got)
	}
	var b strings.Builder
	b.WriteString("goroutine profile: total 66\n")
	for i := 12; i > 0; i-- {
		fmt.Fprintf(&b, "%d @ 0x%x\n#\t0x%x\tpkg.f%d+0x1\tf.go:%d\n\n", i, i, i, i, i)
	}
	got := goroutineGroups(strings.Split(b.String(), "\n"))
	if got[0] != "goroutine profile: total 66" || len(got) != 1+2*10 || got[len(got)-1] != "#\t0x3\tpkg.f3+0x1\tf.go:3" {
		t.Fatalf("goroutineGroups = %q", got)
	}
}
