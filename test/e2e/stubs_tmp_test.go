package e2e

import "testing"

func testCrashSafety(t *testing.T)        { t.Skip("todo") }
func testAuthServerOutage(t *testing.T)   { t.Skip("todo") }
func testNoSecretLeaks(t *testing.T)      { t.Skip("todo") }
