package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// summaryRow is one scenario's line in the table printed at the end of the run.
type summaryRow struct {
	scenario  string
	duration  time.Duration
	refreshes int
	// reuses is "detected/within grace" as the OAuth server counted them.
	reuses string
	logins int
	notes  string
}

var (
	summaryMu sync.Mutex
	summary   []summaryRow
)

func addSummary(r summaryRow) {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	summary = append(summary, r)
}

// printSummary prints the table to stdout (shown by go test -v, or on failure) and, when
// E2E_SUMMARY_FILE is set, writes it there too.
func printSummary(build, total time.Duration) {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCENARIO\tDURATION\tREFRESHES\tREUSES (detected/in grace)\tLOGINS\tNOTES")
	for _, r := range summary {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%s\n", r.scenario, r.duration.Round(100*time.Millisecond),
			r.refreshes, r.reuses, r.logins, r.notes)
	}
	_ = w.Flush()
	fmt.Fprintf(&b, "build %s, total wall time %s\n", build.Round(time.Second), total.Round(time.Second))
	fmt.Print("\n" + b.String())
	if f := os.Getenv("E2E_SUMMARY_FILE"); f != "" {
		_ = os.WriteFile(f, []byte(b.String()), 0o644)
	}
}
