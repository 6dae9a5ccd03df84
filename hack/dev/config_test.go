package main

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigDefaults(t *testing.T) {
	for _, name := range []string{"DEV_DIR", "DEV_OAUTH_PORT", "DEV_TOKEN_TTL", "DEV_AUTO_APPROVE", "DEV_METRICS_ADDR", "DEV_PROBE_ADDR", "DEV_GATEWAY_ADDR", "DEV_GATEWAY_NOAUTH", "DEV_BROWSER_LOGIN"} {
		t.Setenv(name, "")
	}
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.oauthPort != 9000 || c.tokenTTL != 30*time.Second || c.autoApprove || !strings.HasSuffix(c.dir, "bin/dev") {
		t.Errorf("defaults = %+v", c)
	}
	args := c.managerArgs("/s/tokens.db")
	want := []string{"--token-store=/s/tokens.db", "--metrics-bind-address=127.0.0.1:18080", "--health-probe-bind-address=127.0.0.1:18081", "--gateway-bind-address=127.0.0.1:18090"}
	if !slices.Equal(args, want) {
		t.Errorf("managerArgs = %q, want %q", args, want)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	cases := map[string][2]string{
		"port not a number":  {"DEV_OAUTH_PORT", "nine"},
		"port out of range":  {"DEV_OAUTH_PORT", "70000"},
		"ttl not a duration": {"DEV_TOKEN_TTL", "30"},
		"ttl too short":      {"DEV_TOKEN_TTL", "10ms"},
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv(env[0], env[1])
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), env[0]) {
				t.Errorf("loadConfig() error = %v, want one naming %s", err, env[0])
			}
		})
	}
}

func TestCheckPortsFreeNamesTheVariable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := config{oauthPort: 0, metricsAddr: "127.0.0.1:0", probeAddr: l.Addr().String(), gatewayAddr: "127.0.0.1:0"}
	if err := c.checkPortsFree(); err == nil || !strings.Contains(err.Error(), "DEV_PROBE_ADDR") {
		t.Errorf("checkPortsFree() = %v, want an error naming DEV_PROBE_ADDR", err)
	}
}
