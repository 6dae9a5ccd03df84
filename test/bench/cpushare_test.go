package bench

import "testing"

func TestCPUPerRefreshSplitsAWindowByProcess(t *testing.T) {
	u := CPUUse{Seconds: map[string]float64{"kube-apiserver": 3, "etcd": 0.5, "manager-0": 1}}
	for _, tc := range []struct {
		name      string
		u         CPUUse
		refreshes int
		want      string
	}{
		{"by process, largest first", u, 1000, "total 4.5, kube-apiserver 3.0, manager-0 1.0, etcd 0.5"},
		{"no refresh", u, 0, "not measured"},
		{"nothing sampled", CPUUse{}, 10, "not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuCell(cpuPerRefresh(tc.u, tc.refreshes)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
