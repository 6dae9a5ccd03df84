package e2e

import (
	"testing"
)

// TestMCPClientBugs runs the scenarios in order: the three client bugs, crashes, outages,
// per-person credentials, leader failover, and the leak check last, which reads what all the others produced.
// Each scenario runs its own manager; only one manager runs at a time, since every manager
// reconciles every namespace. One scenario alone: -run 'TestMCPClientBugs/per-person'.
func TestMCPClientBugs(t *testing.T) {
	t.Run("1-expired-token-refreshed", testExpiredTokenRefreshed)
	t.Run("2-concurrent-triggers", testConcurrentTriggers)
	t.Run("3-browser-rate-limit", testBrowserRateLimit)
	t.Run("4-crash-safety", testCrashSafety)
	t.Run("5-authorization-server-outage", testAuthServerOutage)
	t.Run("6-per-person-credentials", testPerPersonCredentials)
	t.Run("7-leader-failover", testLeaderFailover)
	t.Run("8-no-secret-leaks", testNoSecretLeaks)
}
