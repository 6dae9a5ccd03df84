package bench

import (
	"errors"
	"sync"
	"time"
)

// process is what the phases read a manager's figures from: one manager, or the replicas of
// the HA run (their counters added up).
type process interface {
	scrape() (metricSet, error)
	procStats() (procStats, error)
	// pid is the process to profile.
	pid() int
}

// replicas are manager processes that share one fleet. With leader election on the Secrets
// store only the leader reconciles, and every replica serves the gateway. Their scrapes add up:
// counters are the sum over the replicas, and a gauge only the leader sets
// (mcpproxy_server_connected) is the leader's.
type replicas []*managerProc

// becameLeader is what a manager logs when it takes the lease.
const becameLeader = "Became the leader"

// startReplicas starts n managers with the same arguments side by side, and stops them all if
// one fails to start.
func startReplicas(a managerArgs, n int) (replicas, error) {
	rs := make(replicas, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() { rs[i], errs[i] = startManager(a) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		rs.stop()
		return nil, err
	}
	return rs, nil
}

// stop stops every replica at once and returns the longest shutdown.
func (rs replicas) stop() time.Duration {
	took := make([]time.Duration, len(rs))
	var wg sync.WaitGroup
	for i, m := range rs {
		if m != nil {
			wg.Go(func() { took[i] = m.stop() })
		}
	}
	wg.Wait()
	var longest time.Duration
	for _, d := range took {
		longest = max(longest, d)
	}
	return longest
}

func (rs replicas) scrape() (metricSet, error) {
	sum := metricSet{}
	for _, m := range rs {
		s, err := m.scrape()
		if err != nil {
			return nil, err
		}
		for series, v := range s {
			sum[series] += v
		}
	}
	return sum, nil
}

// procStats adds up the replicas' memory and CPU time.
func (rs replicas) procStats() (procStats, error) {
	var sum procStats
	for _, m := range rs {
		ps, err := m.procStats()
		if err != nil {
			return sum, err
		}
		sum.RSSBytes += ps.RSSBytes
		sum.PeakRSSBytes += ps.PeakRSSBytes
		sum.CPUSeconds += ps.CPUSeconds
	}
	return sum, nil
}

// pid is the leader's, or the first replica's while none leads.
func (rs replicas) pid() int { return rs[max(0, rs.leader())].pid() }

// leader is the index of the replica that logged that it leads, or -1.
func (rs replicas) leader() int {
	for i, m := range rs {
		if m.p.CountLines(becameLeader) > 0 {
			return i
		}
	}
	return -1
}

// gatewayAddrs are the replicas' gateway addresses, in order.
func (rs replicas) gatewayAddrs() []string {
	addrs := make([]string, len(rs))
	for i, m := range rs {
		addrs[i] = m.gatewayAddr
	}
	return addrs
}
