package e2e

import (
	"testing"
)

// TestMCPClientBugs runs the scenarios in order: the leak check comes last and reads what all
// the others produced. Each scenario runs its own manager; only one manager runs at a time,
// since every manager reconciles every namespace.
func TestMCPClientBugs(t *testing.T) {
	t.Run("1-expired-token-refreshed", testExpiredTokenRefreshed)
	t.Run("2-concurrent-triggers", testConcurrentTriggers)
	t.Run("3-browser-rate-limit", testBrowserRateLimit)
	t.Run("4-crash-safety", testCrashSafety)
	t.Run("5-authorization-server-outage", testAuthServerOutage)
	t.Run("6-no-secret-leaks", testNoSecretLeaks)
}
