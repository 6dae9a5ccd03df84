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
	// HASetups are the manager setups of the HA run (`bench -ha`), each on a fleet of its own:
	// its gateway is measured with GatewayN servers, then HABursts refresh bursts of HAN
	// servers (0: no burst), then their scheduled refreshes for HALifetimes token lifetimes
	// (0: none).
	HASetups    []HASetup
	HAN         int
	HABursts    int
	HALifetimes float64
	// LeaseFlags are added to the command line of replicas that elect a leader (empty: the
	// manager's own lease, renew deadline and retry period).
	LeaseFlags []string
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
		HASetups: []HASetup{{storeBolt, 1}, {storeSecrets, 1}, {storeSecrets, 3}}, HAN: 1000, HABursts: 3, HALifetimes: 1,
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
	c.HASetups, c.HAN, c.HABursts, c.HALifetimes = []HASetup{{storeSecrets, 3}}, 20, 1, 0 // the window is the scale run's code
	// The smoke shares two cores with the rest of the race-instrumented suite. A leader starved
	// past its renew deadline exits, as it must, and a replica that is gone fails every scrape
	// after it; the smoke checks that figures come out, and failover has its own e2e scenario.
	c.LeaseFlags = []string{"--leader-election-lease-duration=90s", "--leader-election-renew-deadline=60s",
		"--leader-election-retry-period=5s"}
	return c
}

// FromEnv overrides c with the BENCH_ variables of knobs (BENCH_WORKDIR is kept afterwards,
// with the manager logs).
func (c Config) FromEnv() (Config, error) {
	for _, k := range knobs {
		if v := os.Getenv(k.name); v != "" && !k.set(&c, v) {
			return c, fmt.Errorf("%s=%q: want %s", k.name, v, k.want)
		}
	}
	return c, nil
}

// knob is one BENCH_ variable: what a valid value looks like, and how it sets the Config
// (false: the value is not valid).
type knob struct {
	name, want string
	set        func(c *Config, v string) bool
}

var knobs = []knob{
	{"BENCH_N", "counts like 100,1000 (or 0: no server fleet)", func(c *Config, v string) (ok bool) {
		if v == "0" {
			c.Ns = nil
			return true
		}
		c.Ns, ok = counts(v)
		return ok
	}},
	{"BENCH_TTL", "a duration of at least 4s", func(c *Config, v string) (ok bool) {
		c.TokenTTL, ok = duration(v, 4*time.Second)
		return ok
	}},
	{"BENCH_LIFETIMES", "a positive number", func(c *Config, v string) (ok bool) {
		c.Lifetimes, ok = number(v)
		return ok && c.Lifetimes > 0
	}},
	{"BENCH_MAX_CONCURRENT", "a positive count", func(c *Config, v string) (ok bool) {
		c.MaxConcurrentReconciles, ok = count(v, 1)
		return ok
	}},
	{"BENCH_GATEWAY_N", "a count (0: skip the gateway)", func(c *Config, v string) (ok bool) {
		c.GatewayN, ok = count(v, 0)
		return ok
	}},
	{"BENCH_GATEWAY_CLIENTS", "client counts like 1,16,64", func(c *Config, v string) (ok bool) {
		c.GatewayConcurrency, ok = counts(v)
		return ok
	}},
	{"BENCH_GATEWAY_CALLS", "a positive count (sequential calls for latency)", func(c *Config, v string) (ok bool) {
		c.GatewayCalls, ok = count(v, 1)
		return ok
	}},
	{"BENCH_GATEWAY_DURATION", "a duration of at least 100ms (of each throughput run)", func(c *Config, v string) (ok bool) {
		c.GatewayDuration, ok = duration(v, 100*time.Millisecond)
		return ok
	}},
	{"BENCH_HA_SETUPS", "STORE:REPLICAS setups like bolt:1,secrets:3 (bolt or secrets; bolt has one replica)", func(c *Config, v string) bool {
		setups, err := parseHASetups(v)
		c.HASetups = setups
		return err == nil
	}},
	{"BENCH_HA_N", "a count (0: no refresh burst in the HA run)", func(c *Config, v string) (ok bool) {
		c.HAN, ok = count(v, 0)
		return ok
	}},
	{"BENCH_HA_BURSTS", "a positive count (bursts one after the other in each HA setup)", func(c *Config, v string) (ok bool) {
		c.HABursts, ok = count(v, 1)
		return ok
	}},
	{"BENCH_HA_LIFETIMES", "a number (0: no window of scheduled refreshes in the HA run)", func(c *Config, v string) (ok bool) {
		c.HALifetimes, ok = number(v)
		return ok
	}},
	{"BENCH_CREDENTIALS", "a count (0: skip the per-subject run)", func(c *Config, v string) (ok bool) {
		c.Credentials, ok = count(v, 0)
		return ok
	}},
	{"BENCH_CREDENTIAL_SERVERS", "a positive count", func(c *Config, v string) (ok bool) {
		c.CredentialServers, ok = count(v, 1)
		return ok
	}},
	{"BENCH_CREDENTIAL_TTL", "a duration of at least 4s", func(c *Config, v string) (ok bool) {
		c.CredentialTTL, ok = duration(v, 4*time.Second)
		return ok
	}},
	{"BENCH_DECOYS", "a count of at least 4 (one of each kind)", func(c *Config, v string) (ok bool) {
		c.Decoys, ok = count(v, 4)
		return ok
	}},
	{"BENCH_NOTE", "text", func(c *Config, v string) bool { c.Note = v; return true }},
	{"BENCH_OUT", "a directory", func(c *Config, v string) bool { c.OutDir = v; return true }},
	{"BENCH_WORKDIR", "a directory", func(c *Config, v string) bool { c.WorkDir = v; return true }},
}

// count reads a whole number of at least least.
func count(v string, least int) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil && n >= least
}

// counts reads positive whole numbers separated by commas.
func counts(v string) ([]int, bool) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, ok := count(f, 1)
		if !ok {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// duration reads a duration of at least least.
func duration(v string, least time.Duration) (time.Duration, bool) {
	d, err := time.ParseDuration(v)
	return d, err == nil && d >= least
}

// number reads a number of at least 0.
func number(v string) (float64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil && f >= 0
}
