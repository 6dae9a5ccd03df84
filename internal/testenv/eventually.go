package testenv

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 50 * time.Millisecond

// Condition is what Eventually polls: a plain predicate, or one that also explains why it
// does not hold yet (the explanation of the last poll is part of the failure message).
type Condition interface {
	func() bool | func() (bool, string)
}

// Eventually polls cond every PollInterval until it holds, and fails the test after timeout,
// saying what it waited for. It is the one polling helper of every suite.
func Eventually[C Condition](t testing.TB, timeout time.Duration, what string, cond C) {
	t.Helper()
	check := func() (bool, string) {
		switch c := any(cond).(type) {
		case func() bool:
			return c(), ""
		case func() (bool, string):
			return c()
		}
		panic("unreachable")
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, why := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if why != "" {
				t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
			}
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(PollInterval)
	}
}
