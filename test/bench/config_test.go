package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFromEnvReadsTheKnobs: each BENCH_ variable sets its figure, and a value it cannot take
// is refused with the variable's name and what it wants.
func TestFromEnvReadsTheKnobs(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		"sizes": {env: map[string]string{"BENCH_N": "100, 1000", "BENCH_TTL": "30s", "BENCH_GATEWAY_CLIENTS": "1,16"},
			check: func(c Config) bool {
				return slices.Equal(c.Ns, []int{100, 1000}) && c.TokenTTL == 30*time.Second && slices.Equal(c.GatewayConcurrency, []int{1, 16})
			}},
		"no server fleet": {env: map[string]string{"BENCH_N": "0"}, check: func(c Config) bool { return c.Ns == nil }},
		"HA setups": {env: map[string]string{"BENCH_HA_SETUPS": "bolt:1, secrets:3", "BENCH_HA_N": "0", "BENCH_HA_LIFETIMES": "0.5"},
			check: func(c Config) bool {
				return slices.Equal(c.HASetups, []HASetup{{storeBolt, 1}, {storeSecrets, 3}}) && c.HAN == 0 && c.HALifetimes == 0.5
			}},
		"several bbolt replicas":  {env: map[string]string{"BENCH_HA_SETUPS": "bolt:3"}, wantErr: `BENCH_HA_SETUPS="bolt:3": want`},
		"an unknown store":        {env: map[string]string{"BENCH_HA_SETUPS": "etcd:1"}, wantErr: "BENCH_HA_SETUPS"},
		"a token shorter than 4s": {env: map[string]string{"BENCH_TTL": "1s"}, wantErr: "at least 4s"},
		"no lifetime":             {env: map[string]string{"BENCH_LIFETIMES": "0"}, wantErr: "a positive number"},
		"a client count of 0":     {env: map[string]string{"BENCH_GATEWAY_CLIENTS": "1,0"}, wantErr: "BENCH_GATEWAY_CLIENTS"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, k := range knobs {
				t.Setenv(k.name, tc.env[k.name])
			}
			c, err := DefaultConfig().FromEnv()
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.check(c):
				t.Errorf("FromEnv with %v gave %+v", tc.env, c)
			}
		})
	}
}
