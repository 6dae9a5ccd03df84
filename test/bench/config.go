package bench

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says what to measure.
type Config struct {
	// Ns are the server counts, run one after the other, each on a fresh control plane (none:
	// only the credentials are measured).
	Ns []int
	// TokenTTL is the access-token lifetime the OAuth server issues.
	TokenTTL time.Duration
	// Lifetimes is how many token lifetimes the steady-state window lasts.
	Lifetimes float64
	// MaxConcurrentReconciles is passed to the manager.
	MaxConcurrentReconciles int
	// RawDuration is how long the plain HTTP client drives the token endpoint.
	RawDuration time.Duration
	// GatewayN is the N whose run also measures the gateway (0: none).
	GatewayN int
	// GatewayCalls is the number of sequential calls for latency; GatewayDuration the length of
	// each throughput run; GatewayConcurrency the client counts.
	GatewayCalls       int
	GatewayDuration    time.Duration
	GatewayConcurrency []int
	// Credentials is how many logged-in UpstreamCredentials the per-subject run spreads over
	// CredentialServers PerSubject servers, on a control plane of its own after the Ns (0: no
	// per-subject run). Their tokens live CredentialTTL; the steady window is Lifetimes of them.
	Credentials, CredentialServers int
	CredentialTTL                  time.Duration
	// Profile samples the manager's CPU with perf during each catch-up, and for a minute of the
	// credentials' steady window (when perf is installed).
	Profile bool
	// Decoys is how many labelled 1 MiB Secrets the decoy run (RunDecoys) creates.
	Decoys int
	// GCWait bounds each wait for a garbage collection in the manager, whose trace gives its
	// live heap (the decoy and the per-subject runs); zero skips the live heap. An idle manager
	// collects at least every 2 min.
	GCWait time.Duration
	// Note is printed under the decoy report's title (say, what the source was changed to).
	Note string
	// RepoRoot is the module root (found from the working directory when empty).
	RepoRoot string
	// WorkDir holds the control planes, token stores and manager logs (a temp dir when empty).
	WorkDir string
	// OutDir receives results.json, results.md and results.png.
	OutDir string
	// Log receives progress lines.
	Log io.Writer
}

// DefaultConfig is what `make bench` runs.
func DefaultConfig() Config {
	return Config{
		Ns: []int{100, 1000, 5000}, TokenTTL: 60 * time.Second, Lifetimes: 3, MaxConcurrentReconciles: 16,
		RawDuration: 5 * time.Second, GatewayN: 100, Credentials: 10000, CredentialServers: 10, CredentialTTL: 5 * time.Minute, GatewayCalls: 1000, GatewayDuration: 3 * time.Second,
		GatewayConcurrency: []int{1, 16, 64}, Profile: true, Decoys: 500, GCWait: 150 * time.Second,
		OutDir: "bench/results", Log: os.Stdout,
	}
}

// SmokeConfig is the reduced run of BENCH_SMOKE=1: it checks that figures come out, not speed.
func SmokeConfig() Config {
	c := DefaultConfig()
	c.Ns = []int{20}
	c.TokenTTL = 5 * time.Second
	c.Lifetimes = 1
	c.MaxConcurrentReconciles = 4
	c.RawDuration = time.Second
	c.GatewayN = 20
	c.GatewayCalls = 50
	c.GatewayDuration = 500 * time.Millisecond
	c.GatewayConcurrency = []int{1, 4}
	c.Profile = false
	c.Decoys = 8
	c.GCWait = 0
	c.Credentials, c.CredentialServers, c.CredentialTTL = 20, 2, 5*time.Second
	return c
}

// FromEnv overrides c with BENCH_N (comma separated; 0: no server fleet), BENCH_TTL,
// BENCH_LIFETIMES, BENCH_MAX_CONCURRENT, BENCH_GATEWAY_N, BENCH_CREDENTIALS (0: no per-subject
// run), BENCH_CREDENTIAL_SERVERS, BENCH_CREDENTIAL_TTL, BENCH_DECOYS, BENCH_NOTE, BENCH_OUT and
// BENCH_WORKDIR (kept afterwards, with the manager logs).
func (c Config) FromEnv() (Config, error) {
	if v := os.Getenv("BENCH_N"); v != "" {
		c.Ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if v == "0" {
				break // no server fleet
			}
			if err != nil || n < 1 {
				return c, fmt.Errorf("BENCH_N=%q: want counts like 100,1000 (or 0: no server fleet)", v)
			}
			c.Ns = append(c.Ns, n)
		}
	}
	if v := os.Getenv("BENCH_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 4*time.Second {
			return c, fmt.Errorf("BENCH_TTL=%q: want a duration of at least 4s", v)
		}
		c.TokenTTL = d
	}
	if v := os.Getenv("BENCH_LIFETIMES"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return c, fmt.Errorf("BENCH_LIFETIMES=%q: want a positive number", v)
		}
		c.Lifetimes = f
	}
	if v := os.Getenv("BENCH_MAX_CONCURRENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("BENCH_MAX_CONCURRENT=%q: want a positive count", v)
		}
		c.MaxConcurrentReconciles = n
	}
	if v := os.Getenv("BENCH_GATEWAY_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("BENCH_GATEWAY_N=%q: want a count (0: skip the gateway)", v)
		}
		c.GatewayN = n
	}
	if v := os.Getenv("BENCH_CREDENTIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("BENCH_CREDENTIALS=%q: want a count (0: skip the per-subject run)", v)
		}
		c.Credentials = n
	}
	if v := os.Getenv("BENCH_CREDENTIAL_SERVERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("BENCH_CREDENTIAL_SERVERS=%q: want a positive count", v)
		}
		c.CredentialServers = n
	}
	if v := os.Getenv("BENCH_CREDENTIAL_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 4*time.Second {
			return c, fmt.Errorf("BENCH_CREDENTIAL_TTL=%q: want a duration of at least 4s", v)
		}
		c.CredentialTTL = d
	}
	if v := os.Getenv("BENCH_DECOYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 {
			return c, fmt.Errorf("BENCH_DECOYS=%q: want a count of at least 4 (one of each kind)", v)
		}
		c.Decoys = n
	}
	if v := os.Getenv("BENCH_NOTE"); v != "" {
		c.Note = v
	}
	if v := os.Getenv("BENCH_OUT"); v != "" {
		c.OutDir = v
	}
	if v := os.Getenv("BENCH_WORKDIR"); v != "" {
		c.WorkDir = v
	}
	return c, nil
}
