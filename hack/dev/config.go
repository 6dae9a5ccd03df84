package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is the demo's settings, read from DEV_* environment variables.
type config struct {
	dir         string // absolute state directory
	binDir      string // where manager, oauthserver and mcpproxy are
	crdDir      string
	oauthPort   int
	tokenTTL    time.Duration
	autoApprove bool
	metricsAddr string
	probeAddr   string
	gatewayAddr string
	// gatewayNoAuth lets loopback callers use the gateway without a token (opt-in: the
	// machine may be shared).
	gatewayNoAuth bool
	// browserLogin makes the controller open the browser itself when a login is needed.
	browserLogin bool
	verbose      bool
}

func loadConfig() (config, error) {
	c := config{
		dir:         envOr("DEV_DIR", filepath.Join("bin", "dev")),
		crdDir:      envOr("DEV_CRDS", filepath.Join("config", "crd", "bases")),
		metricsAddr: envOr("DEV_METRICS_ADDR", "127.0.0.1:18080"),
		probeAddr:   envOr("DEV_PROBE_ADDR", "127.0.0.1:18081"),
		gatewayAddr: envOr("DEV_GATEWAY_ADDR", "127.0.0.1:18090"),
		autoApprove: isTrue(os.Getenv("DEV_AUTO_APPROVE")),
		verbose:     isTrue(os.Getenv("DEV_VERBOSE")),

		gatewayNoAuth: isTrue(os.Getenv("DEV_GATEWAY_NOAUTH")),
		browserLogin:  isTrue(os.Getenv("DEV_BROWSER_LOGIN")),
	}
	var err error
	if c.oauthPort, err = strconv.Atoi(envOr("DEV_OAUTH_PORT", "9000")); err != nil || c.oauthPort <= 0 || c.oauthPort > 65535 {
		return c, fmt.Errorf("DEV_OAUTH_PORT=%q: want a port number", os.Getenv("DEV_OAUTH_PORT"))
	}
	if c.tokenTTL, err = time.ParseDuration(envOr("DEV_TOKEN_TTL", "30s")); err != nil || c.tokenTTL < time.Second {
		return c, fmt.Errorf("DEV_TOKEN_TTL=%q: want a duration of at least 1s, such as 30s", os.Getenv("DEV_TOKEN_TTL"))
	}
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return c, err
	}
	exe, err := os.Executable()
	if err != nil {
		return c, fmt.Errorf("finding the binaries: %w", err)
	}
	c.binDir = envOr("DEV_BIN", filepath.Dir(exe))
	return c, nil
}

// oauthURL is the base URL of the demo OAuth + MCP server.
func (c config) oauthURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.oauthPort) }

// managerArgs are the controller's flags for the demo.
func (c config) managerArgs(storePath string) []string {
	args := []string{
		"--token-store=" + storePath,
		"--metrics-bind-address=" + c.metricsAddr,
		"--health-probe-bind-address=" + c.probeAddr,
		"--gateway-bind-address=" + c.gatewayAddr,
	}
	if c.gatewayNoAuth {
		args = append(args, "--gateway-allow-loopback-unauthenticated")
	}
	if c.browserLogin {
		args = append(args, "--browser-login")
	}
	return args
}

// checkPortsFree fails early, with a hint, when another demo (or anything) holds a port.
func (c config) checkPortsFree() error {
	for _, p := range []struct{ addr, env string }{
		{fmt.Sprintf("127.0.0.1:%d", c.oauthPort), "DEV_OAUTH_PORT"},
		{c.metricsAddr, "DEV_METRICS_ADDR"},
		{c.probeAddr, "DEV_PROBE_ADDR"},
		{c.gatewayAddr, "DEV_GATEWAY_ADDR"},
	} {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("%s is in use (another make dev?); stop it or set %s", p.addr, p.env)
		}
		_ = l.Close()
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
