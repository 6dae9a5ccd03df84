// Command bench runs the scale benchmark (issues 11, 17 and 18) and writes bench/results/: `make bench`.
// BENCH_N (0: no server fleet), BENCH_TTL, BENCH_LIFETIMES, BENCH_MAX_CONCURRENT, BENCH_GATEWAY_N,
// BENCH_CREDENTIALS (0: no per-subject run), BENCH_CREDENTIAL_SERVERS, BENCH_CREDENTIAL_TTL, BENCH_OUT
// and BENCH_WORKDIR change what is measured; BENCH_SMOKE=1 runs the reduced configuration of the
// smoke test. With BENCH_N=0 the per-subject figures go to credentials.json and credentials.md.
// `bench -render DIR` only rewrites DIR/results.md and DIR/results.png from DIR/results.json (and
// DIR/credentials.md from DIR/credentials.json, DIR/ha.md from DIR/ha.json).
// `bench -decoys` (`make bench-decoys`) measures instead what BENCH_DECOYS (500) labelled 1 MiB
// Secrets cost the manager's memory, into decoys.json and decoys.md (BENCH_NOTE heads the report).
// `bench -ha` measures instead, for each BENCH_HA_SETUPS (bolt:1,secrets:1,secrets:3: token store
// and manager replicas), the gateway on BENCH_GATEWAY_N servers at BENCH_GATEWAY_CLIENTS (1,16,64)
// for BENCH_GATEWAY_DURATION (3s) each, BENCH_HA_BURSTS (3) refresh bursts of BENCH_HA_N (1000)
// servers and then their scheduled refreshes for BENCH_HA_LIFETIMES (1) token lifetimes, with
// the API writes per refresh, into ha.json and ha.md.
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
	ha := flag.Bool("ha", false, "measure the gateway and a refresh burst for each BENCH_HA_SETUPS (token store and replicas), and nothing else")
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
	case *ha:
		_, err = bench.RunHA(cfg)
	default:
		_, err = bench.Run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
