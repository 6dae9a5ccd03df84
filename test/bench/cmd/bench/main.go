// Command bench runs the scale benchmark (issue 11) and writes bench/results/: `make bench`.
// BENCH_N, BENCH_TTL, BENCH_LIFETIMES, BENCH_MAX_CONCURRENT, BENCH_GATEWAY_N, BENCH_OUT and BENCH_WORKDIR
// change what is measured; BENCH_SMOKE=1 runs the reduced configuration of the smoke test.
// `bench -render DIR` only rewrites DIR/results.md and DIR/results.png from DIR/results.json.
// `bench -decoys` (`make bench-decoys`) measures instead what BENCH_DECOYS (500) labelled 1 MiB
// Secrets cost the manager's memory, into decoys.json and decoys.md (BENCH_NOTE heads the report).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mcpproxy/mcpproxy-operator/test/bench"
)

func main() {
	render := flag.String("render", "", "rewrite the Markdown and the chart of this results directory from its JSON, and exit")
	decoys := flag.Bool("decoys", false, "measure what BENCH_DECOYS labelled 1 MiB Secrets cost the manager, and nothing else")
	flag.Parse()
	if *render != "" {
		if err := bench.Render(*render); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	cfg := bench.DefaultConfig()
	if os.Getenv("BENCH_SMOKE") == "1" {
		cfg = bench.SmokeConfig()
	}
	cfg, err := cfg.FromEnv()
	switch {
	case err != nil:
	case *decoys:
		_, err = bench.RunDecoys(cfg)
	default:
		_, err = bench.Run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
