package calapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptedLimiter answers Allow from a script, one entry per call; past
// its end it allows.
type scriptedLimiter struct {
	script []limiterAnswer
	calls  atomic.Int32
}

type limiterAnswer struct {
	wait time.Duration
	err  error
}

func (l *scriptedLimiter) Allow(ctx context.Context) (time.Duration, error) {
	n := int(l.calls.Add(1)) - 1
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if n < len(l.script) {
		return l.script[n].wait, l.script[n].err
	}
	return 0, nil
}

func TestLimiterGuardsEveryAttempt(t *testing.T) {
	t.Parallel()
	redisDown := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	tests := []struct {
		name         string
		script       []limiterAnswer
		failures     int32 // 502s before success
		wantAsks     int32
		wantAttempts int32
		check        func(*testing.T, error)
	}{
		{name: "allowed", wantAsks: 1, wantAttempts: 1, check: noError},
		{name: "every retry asks too", failures: 2, wantAsks: 3, wantAttempts: 3, check: noError},
		{name: "short wait is waited in place", script: []limiterAnswer{{wait: 50 * time.Millisecond}, {wait: 30 * time.Millisecond}},
			wantAsks: 3, wantAttempts: 1, check: noError},
		{name: "budget spent for long: nothing goes out", script: []limiterAnswer{{wait: 3 * time.Second}},
			wantAsks: 1, wantAttempts: 0, check: localLimit(3 * time.Second)},
		{name: "budget spent for long before a retry", script: []limiterAnswer{{}, {wait: 2500 * time.Millisecond}}, failures: 5,
			wantAsks: 2, wantAttempts: 1, check: localLimit(2500 * time.Millisecond)},
		{name: "limiter down is temporary, not retried at once", script: []limiterAnswer{{err: redisDown}},
			wantAsks: 1, wantAttempts: 0, check: func(t *testing.T, err error) {
				var reqErr *RequestError
				require.ErrorAs(t, err, &reqErr)
				require.True(t, reqErr.Temporary())
				require.ErrorIs(t, err, redisDown)
				require.ErrorContains(t, err, "get booking: cal.com GET /v2/bookings/bQ8: held by the rate limiter: rate limiter unavailable: dial tcp")
				var apiErr *APIError
				require.False(t, errors.As(err, &apiErr), "not a 429: the worker must count it as a failure")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) {
				if attempts.Add(1) <= tt.failures {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				_, _ = io.WriteString(w, bookingJSON)
			})
			lim := &scriptedLimiter{script: tt.script}
			_, err := newTestClient(srv.URL, Options{Limiter: lim}).GetBooking(t.Context(), BookingRef{UID: "bQ8"})
			tt.check(t, err)
			require.Equal(t, tt.wantAsks, lim.calls.Load())
			require.Equal(t, tt.wantAttempts, attempts.Load())
		})
	}
}

func TestLimiterAppliesToV1AndListing(t *testing.T) {
	t.Parallel()
	srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, v1BookingJSON("PENDING")) })
	wait := limiterFunc(func() (time.Duration, error) { return 2 * time.Second, nil })
	v1 := newTestV1Client(srv.URL, Options{Limiter: wait})
	v2 := newTestClient(srv.URL, Options{Limiter: wait})
	calls := map[string]func(context.Context) error{
		"v1 confirm": func(ctx context.Context) error { return v1.Confirm(ctx, BookingRef{ID: 3}) },
		"v1 list":    func(ctx context.Context) error { _, err := v1.ListPending(ctx); return err },
		"v2 list":    func(ctx context.Context) error { _, err := v2.ListPending(ctx); return err },
		"v2 decline": func(ctx context.Context) error { return v2.Decline(ctx, BookingRef{UID: "u"}, "r") },
	}
	for name, call := range calls {
		localLimit(2*time.Second)(t, call(t.Context()))
		require.Empty(t, srv.requests(), name)
	}
}

func TestLimiterHonoursTheContext(t *testing.T) {
	t.Parallel()
	srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, bookingJSON) })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := newTestClient(srv.URL, Options{Limiter: &scriptedLimiter{}}).GetBooking(ctx, BookingRef{UID: "bQ8"})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, srv.requests())
}

func noError(t *testing.T, err error) {
	t.Helper()
	require.NoError(t, err)
}

func localLimit(wait time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusTooManyRequests, apiErr.Status)
		require.Equal(t, LocalRateLimit, apiErr.Code)
		require.Equal(t, wait, apiErr.RetryAfter)
		require.True(t, apiErr.RateLimited())
		require.True(t, apiErr.Temporary())
		require.NotEmpty(t, apiErr.Path)
	}
}
