// Package ratelimit is the budget of Cal.com calls that every creditgate
// worker process shares through Redis, so that together they stay under
// the limit Cal.com sets per API key (120 a minute) however many run.
//
// It is a calapi.Limiter built on github.com/go-redis/redis_rate, a GCRA
// (leaky bucket) kept in one Redis key; the Redis server's clock decides,
// so processes need not agree on the time.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Key is the Redis key of the shared budget, after redis_rate's own
// "rate:" prefix.
const Key = "creditgate:calapi"

// Limiter spends the shared budget. It is safe for concurrent use.
type Limiter struct {
	rl    *redis_rate.Limiter
	limit redis_rate.Limit
}

// New returns a Limiter that lets at most perMinute calls through in any
// minute, across every process using the same Redis. perMinute <= 0 means
// no limit.
func New(rdb redis.UniversalClient, perMinute int) *Limiter {
	return NewWindow(rdb, perMinute, time.Minute)
}

// NewWindow is New for any window; tests use a short one.
//
// A GCRA lets a burst through and then one call per window/rate. Any
// window of that length then sees up to burst + rate calls, so the rate
// is n less the burst: at most n in any window, as Cal.com counts them,
// and a burst of a tenth of n so that workers starting together do not
// all wait.
func NewWindow(rdb redis.UniversalClient, n int, window time.Duration) *Limiter {
	l := &Limiter{rl: redis_rate.NewLimiter(rdb)}
	if n <= 0 || window <= 0 {
		return l
	}
	burst := max(1, n/10)
	l.limit = redis_rate.Limit{Rate: max(1, n-burst), Burst: burst, Period: window}
	return l
}

// Allow takes one call from the budget; wait > 0 means none is free and
// says when one will be. An error means Redis could not be asked.
func (l *Limiter) Allow(ctx context.Context) (wait time.Duration, err error) {
	if l.limit.IsZero() {
		return 0, nil
	}
	res, err := l.rl.Allow(ctx, Key, l.limit)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	if res.RetryAfter <= 0 { // denied, yet free now: the time it took to ask
		return time.Millisecond, nil
	}
	return res.RetryAfter, nil
}

// String describes the limit, for start-up logs.
func (l *Limiter) String() string {
	if l.limit.IsZero() {
		return "no limit"
	}
	return l.limit.String()
}
