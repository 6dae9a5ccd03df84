package bench

import (
	"fmt"
	"strings"
)

// asReplicas is the manager(s) behind m as sampleCPU counts them: one process, or the HA
// run's replicas.
func asReplicas(m process) replicas {
	switch p := m.(type) {
	case *managerProc:
		return replicas{p}
	case replicas:
		return p
	}
	return nil
}

// cpuPerRefresh is the CPU milliseconds each process (sampleCPU's roles) spent per refresh
// over u, with "total" their sum: what a window's refreshes cost the machine's two cores.
func cpuPerRefresh(u CPUUse, refreshes int) map[string]float64 {
	if refreshes <= 0 || len(u.Seconds) == 0 {
		return nil
	}
	out := map[string]float64{}
	var total float64
	for role, s := range u.Seconds {
		v := 1000 * s / float64(refreshes)
		out[role] = v
		total += v
	}
	out["total"] = total
	return out
}

// cpuCell prints cpuPerRefresh's figures: the total, then by process, largest first.
func cpuCell(m map[string]float64) string {
	if len(m) == 0 {
		return "not measured"
	}
	parts := []string{fmt.Sprintf("total %.1f", m["total"])}
	for _, role := range largestFirst(m) {
		if role != "total" {
			parts = append(parts, fmt.Sprintf("%s %.1f", role, m[role]))
		}
	}
	return strings.Join(parts, ", ")
}
