package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/calapi/ratelimit"
	"github.com/creditgate/creditgate/worker/workertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newRedis is a client of a Redis database of this test's own.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(workertest.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Two processes, one budget: what one spends the other cannot.
func TestBudgetIsSharedAcrossLimiters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n         int
		wantBurst int
	}{
		{n: 100, wantBurst: 10},
		{n: 120, wantBurst: 12},
		{n: 5, wantBurst: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d a minute", tt.n), func(t *testing.T) {
			t.Parallel()
			rdb := newRedis(t)
			a, b := ratelimit.New(rdb, tt.n), ratelimit.New(rdb, tt.n)
			for i := range tt.wantBurst {
				l := a
				if i%2 == 1 {
					l = b
				}
				wait, err := l.Allow(t.Context())
				require.NoError(t, err)
				require.Zero(t, wait, "call %d of the burst", i+1)
			}
			perCall := time.Minute / time.Duration(tt.n-tt.wantBurst)
			for _, l := range []*ratelimit.Limiter{a, b} {
				wait, err := l.Allow(t.Context())
				require.NoError(t, err)
				require.Positive(t, wait, "the shared budget is spent")
				require.LessOrEqual(t, wait, perCall)
				require.Greater(t, wait, perCall-2*time.Second)
			}
			// A Limiter on another database has a budget of its own.
			wait, err := ratelimit.New(newRedis(t), tt.n).Allow(t.Context())
			require.NoError(t, err)
			require.Zero(t, wait)
		})
	}
}

// However the calls come, no window of the limit's length sees more than n,
// the way Cal.com counts; and the budget refills at about that rate.
func TestAtMostNInAnyWindow(t *testing.T) {
	t.Parallel()
	const n, window = 20, time.Second
	rdb := newRedis(t)
	limiters := []*ratelimit.Limiter{ratelimit.NewWindow(rdb, n, window), ratelimit.NewWindow(rdb, n, window)}
	var allowed []time.Time
	deadline := time.Now().Add(3 * window)
	for i := 0; time.Now().Before(deadline); i++ {
		wait, err := limiters[i%2].Allow(t.Context())
		require.NoError(t, err)
		if wait == 0 {
			allowed = append(allowed, time.Now())
			continue
		}
		require.LessOrEqual(t, wait, window)
		time.Sleep(wait / 2) // come back early, as impatient workers do
	}
	for i := range allowed {
		in := 0
		for _, at := range allowed[i:] {
			if at.Sub(allowed[i]) < window-20*time.Millisecond { // local clocks jitter a little
				in++
			}
		}
		require.LessOrEqual(t, in, n, "calls in the window from call %d", i)
	}
	require.GreaterOrEqual(t, len(allowed), 2*n, "about n per window over three windows")
	require.LessOrEqual(t, len(allowed), 3*n+1)
}

func TestNoLimit(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never asked
	t.Cleanup(func() { _ = rdb.Close() })
	l := ratelimit.New(rdb, 0)
	for range 1000 {
		wait, err := l.Allow(t.Context())
		require.NoError(t, err)
		require.Zero(t, wait)
	}
	require.Equal(t, "no limit", l.String())
	require.Equal(t, "90 req/m (burst 10)", ratelimit.New(rdb, 100).String())
}

func TestRedisDownIsAnError(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	_, err := ratelimit.New(rdb, 100).Allow(t.Context())
	require.ErrorContains(t, err, "rate limit: ")
}

// End to end: a client whose budget is spent does not call Cal.com, and
// says so as a 429 the worker delays on.
func TestClientHeldByTheSharedBudget(t *testing.T) {
	t.Parallel()
	fake := calapitest.NewServer("key")
	t.Cleanup(fake.Close)
	fake.AddBooking(calapi.Booking{UID: "b1", ID: 1})
	rdb := newRedis(t)
	lim := ratelimit.New(rdb, 10) // a burst of 1
	workerA := calapi.NewClient(fake.URL, "key", calapi.Options{Limiter: lim})
	workerB := calapi.NewV1Client(fake.URL, "key", calapi.Options{Limiter: ratelimit.New(rdb, 10)})

	_, err := workerA.GetBooking(t.Context(), calapi.BookingRef{UID: "b1"})
	require.NoError(t, err)
	_, err = workerB.GetBooking(t.Context(), calapi.BookingRef{ID: 1})
	var apiErr *calapi.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, calapi.LocalRateLimit, apiErr.Code)
	require.True(t, apiErr.RateLimited())
	require.Positive(t, apiErr.RetryAfter)
	require.Len(t, fake.Calls(), 1, "the held call never left")
	require.Zero(t, fake.RateLimited())
}
