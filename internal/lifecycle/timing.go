package lifecycle

import (
	"hash/fnv"
	"strconv"
	"time"
)

// Backoff bounds for failed refreshes: 1s doubling, capped at 5 minutes.
const (
	backoffBase = time.Second
	backoffCap  = 5 * time.Minute
	// retryAfterCap keeps a hostile or mistaken Retry-After from parking a token for days.
	retryAfterCap = time.Hour
)

// backoff is how long to wait after the attempts-th consecutive failure: base·2^(attempts-1),
// capped, then shortened by up to a fifth by a jitter stable for (key, attempts). A Retry-After
// from the server is honoured when it asks for longer.
func backoff(attempts int32, retryAfter time.Duration, key string) time.Duration {
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

// defaultRefreshBefore is how long before expiry a token is refreshed when the spec does not
// say: a quarter of its lifetime, at most five minutes.
func defaultRefreshBefore(lifetime time.Duration) time.Duration {
	d := lifetime / 4
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	if d < 0 {
		d = 0
	}
	return d
}

// RefreshTime is when a token issued at issuedAt and expiring at expiry should be refreshed:
// expiry minus refreshBefore, a little earlier by a jitter (up to a tenth of refreshBefore)
// that is stable per key, so thousands of tokens do not refresh in the same second and a
// repeated reconcile plans the same time. Zero when the expiry is unknown.
func RefreshTime(issuedAt, expiry time.Time, refreshBefore *time.Duration, jitterKey string) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	before := defaultRefreshBefore(expiry.Sub(issuedAt))
	if issuedAt.IsZero() {
		before = 5 * time.Minute
	}
	if refreshBefore != nil {
		before = *refreshBefore
	}
	jitter := time.Duration(float64(before/10) * unitFraction(jitterKey, 0))
	return expiry.Add(-before - jitter)
}

// unitFraction maps (key, salt) to a number in [0, 1), the same every time.
func unitFraction(key string, salt int) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte(strconv.Itoa(salt)))
	return float64(h.Sum64()>>11) / float64(1<<53)
}
