package gateway

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst events at once, refilled at PerSecond.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

func (l RateLimit) orDefault(d RateLimit) RateLimit {
	if l.PerSecond <= 0 || l.Burst <= 0 {
		return d
	}
	return l
}

// The default limits of TokenReviews for tokens the gateway has no cached answer for. A
// workload presents a new projected token about once an hour, so a client address needs a few
// a minute; the total bounds what a flood of junk from many addresses costs the API server.
var (
	defaultReviewRatePerClient = RateLimit{PerSecond: 5, Burst: 20}
	defaultReviewRateTotal     = RateLimit{PerSecond: 50, Burst: 100}
)

// bucket is one token bucket.
type bucket struct {
	mu     sync.Mutex
	limit  RateLimit
	tokens float64
	last   time.Time
}

func newBucket(l RateLimit, now time.Time) *bucket {
	return &bucket{limit: l, tokens: float64(l.Burst), last: now}
}

// take spends one token, or says how long until one is there.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(float64(b.limit.Burst), b.tokens+now.Sub(b.last).Seconds()*b.limit.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.limit.PerSecond * float64(time.Second))
}

// reviewLimiter bounds the TokenReviews of unknown tokens per client address and in total, so
// junk costs the API server little and cannot crowd out a real workload's new token for long.
type reviewLimiter struct {
	perClient RateLimit
	clients   *ttlCache[string, *bucket]
	total     *bucket
	now       func() time.Time
}

// maxLimitedClients bounds the client addresses remembered; a forgotten one starts with a full
// bucket, which the total limit still bounds.
const maxLimitedClients = 4096

func newReviewLimiter(perClient, total RateLimit) *reviewLimiter {
	perClient = perClient.orDefault(defaultReviewRatePerClient)
	total = total.orDefault(defaultReviewRateTotal)
	// A client's bucket is full again after Burst/PerSecond: remembering it longer changes nothing.
	refill := time.Duration(float64(perClient.Burst) / perClient.PerSecond * float64(time.Second))
	return &reviewLimiter{perClient: perClient, clients: newTTLCache[string, *bucket](refill+time.Second, maxLimitedClients),
		total: newBucket(total, time.Now()), now: time.Now}
}

// allow spends one review for client, or returns how long to wait.
func (l *reviewLimiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	b, ok := l.clients.get(client)
	if !ok {
		b = newBucket(l.perClient, now)
	}
	ok, wait := b.take(now)
	l.clients.put(client, b)
	if !ok {
		reviewsLimited.WithLabelValues("client").Inc()
		return false, wait
	}
	if ok, wait = l.total.take(now); !ok {
		reviewsLimited.WithLabelValues("total").Inc()
		return false, wait
	}
	return true, 0
}

// errReviewLimited says a token was not reviewed because of the review rate limit.
type errReviewLimited struct{ retryAfter time.Duration }

func (e errReviewLimited) Error() string {
	return fmt.Sprintf("too many unknown tokens lately; try again in %s", e.retryAfter.Round(time.Second))
}

// reviewCall is one TokenReview in flight; callers presenting the same token wait for it
// instead of spending another review (and another unit of the rate limit).
type reviewCall struct {
	done chan struct{}
	id   *Identity
	err  error
}
