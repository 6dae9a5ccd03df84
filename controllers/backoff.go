package controllers

import (
	"hash/fnv"
	"strconv"
	"time"
)

// Backoff bounds for failed refreshes: 1s doubling, capped at 5 minutes.
const (
	backoffBase = time.Second
	backoffCap  = 5 * time.Minute
	// retryAfterCap keeps a hostile or mistaken Retry-After from parking a server for days.
	retryAfterCap = time.Hour
)

// Backoff is how long to wait after the attempts-th consecutive failure: base·2^(attempts-1),
// capped, then shortened by up to a fifth by a jitter stable for (key, attempts). A Retry-After
// from the server is honoured when it asks for longer.
func Backoff(attempts int32, retryAfter time.Duration, key string) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	d := backoffCap
	if attempts <= 20 {
		d = backoffBase << (attempts - 1)
		if d > backoffCap {
			d = backoffCap
		}
	}
	d -= time.Duration(float64(d/5) * unitFraction(key, int(attempts)))
	if retryAfter > retryAfterCap {
		retryAfter = retryAfterCap
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// unitFraction maps (key, salt) to a number in [0, 1), the same every time.
func unitFraction(key string, salt int) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte(strconv.Itoa(salt)))
	return float64(h.Sum64()>>11) / float64(1<<53)
}
