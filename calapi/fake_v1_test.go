package calapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
)

func TestV1ClientAgainstFake(t *testing.T) {
	t.Parallel()
	ref := calapi.BookingRef{ID: 41}
	tests := []struct {
		name       string
		initial    string // "" keeps pending
		act        func(context.Context, *calapi.V1Client) error
		wantStatus string
		wantErr    int      // APIError status; 0 means success
		wantCode   string   // APIError code
		wantCalls  []string // method path?query, apiKey redacted
		wantReason string
	}{
		{name: "confirm pending", act: func(ctx context.Context, c *calapi.V1Client) error { return c.Confirm(ctx, ref) },
			wantStatus: calapi.StatusAccepted,
			wantCalls:  []string{"GET /v1/bookings/41?apiKey=REDACTED", "PATCH /v1/bookings/41?apiKey=REDACTED"}},
		{name: "decline pending cancels with the reason", act: func(ctx context.Context, c *calapi.V1Client) error {
			return c.Decline(ctx, ref, "balance 0, cost 1")
		}, wantStatus: calapi.StatusCancelled, wantReason: "balance 0, cost 1",
			wantCalls: []string{"GET /v1/bookings/41?apiKey=REDACTED",
				"DELETE /v1/bookings/41/cancel?apiKey=REDACTED&cancellationReason=balance+0%2C+cost+1"}},
		{name: "cancel accepted", initial: calapi.StatusAccepted,
			act:        func(ctx context.Context, c *calapi.V1Client) error { return c.Cancel(ctx, ref, "short of credit") },
			wantStatus: calapi.StatusCancelled, wantReason: "short of credit",
			wantCalls: []string{"DELETE /v1/bookings/41/cancel?apiKey=REDACTED&cancellationReason=short+of+credit"}},
		{name: "confirm cancelled is refused before the PATCH", initial: calapi.StatusCancelled,
			act:        func(ctx context.Context, c *calapi.V1Client) error { return c.Confirm(ctx, ref) },
			wantStatus: calapi.StatusCancelled, wantErr: 400, wantCode: calapi.NotPending,
			wantCalls: []string{"GET /v1/bookings/41?apiKey=REDACTED"}},
		{name: "decline what the host accepted is refused", initial: calapi.StatusAccepted,
			act:        func(ctx context.Context, c *calapi.V1Client) error { return c.Decline(ctx, ref, "x") },
			wantStatus: calapi.StatusAccepted, wantErr: 400, wantCode: calapi.NotPending,
			wantCalls: []string{"GET /v1/bookings/41?apiKey=REDACTED"}},
		{name: "cancel cancelled is Cal.com's 400", initial: calapi.StatusCancelled,
			act:        func(ctx context.Context, c *calapi.V1Client) error { return c.Cancel(ctx, ref, "x") },
			wantStatus: calapi.StatusCancelled, wantErr: 400,
			wantCalls: []string{"DELETE /v1/bookings/41/cancel?apiKey=REDACTED&cancellationReason=x"}},
		{name: "unknown id is a 404", act: func(ctx context.Context, c *calapi.V1Client) error {
			return c.Confirm(ctx, calapi.BookingRef{ID: 999})
		}, wantStatus: calapi.StatusPending, wantErr: 404, wantCalls: []string{"GET /v1/bookings/999?apiKey=REDACTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, calapi.Options{})
			if tt.initial != "" {
				b.fake.SetStatus("pending-1", tt.initial)
			}
			c := calapi.NewV1Client(b.fake.URL, fakeKey, calapi.Options{})
			err := tt.act(t.Context(), c)
			if tt.wantErr != 0 {
				var apiErr *calapi.APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, tt.wantErr, apiErr.Status)
				require.Equal(t, tt.wantCode, apiErr.Code)
				require.False(t, apiErr.Temporary())
				require.NotContains(t, err.Error(), fakeKey)
			} else {
				require.NoError(t, err)
			}
			var calls []string
			for _, call := range b.fake.Calls() {
				calls = append(calls, call.Method+" "+call.Path+"?"+call.Query.Encode())
			}
			require.Equal(t, tt.wantCalls, calls)
			got, err := c.GetBooking(t.Context(), ref)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, got.Status)
			stored, _ := b.fake.Booking("pending-1")
			require.Equal(t, tt.wantReason, stored.CancellationReason)
		})
	}
}

func TestV1GetBookingFromFake(t *testing.T) {
	t.Parallel()
	b := setup(t, calapi.Options{})
	got, err := calapi.NewV1Client(b.fake.URL, fakeKey, calapi.Options{}).GetBooking(t.Context(), calapi.BookingRef{ID: 41})
	require.NoError(t, err)
	want, _ := b.fake.Booking("pending-1")
	require.Equal(t, want, got)
}

func TestV1WrongKeyAgainstFake(t *testing.T) {
	t.Parallel()
	b := setup(t, calapi.Options{})
	for _, key := range []string{"cal_live_wrong_key", ""} {
		err := calapi.NewV1Client(b.fake.URL, key, calapi.Options{}).Cancel(t.Context(), calapi.BookingRef{ID: 41}, "x")
		var apiErr *calapi.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.Status)
		require.False(t, apiErr.Temporary())
		if key != "" {
			require.NotContains(t, err.Error(), key)
		}
	}
	got, _ := b.fake.Booking("pending-1")
	require.Equal(t, calapi.StatusPending, got.Status)
}

// addMany adds n bookings after pending-1 (id 41): every third accepted,
// and, every fifth, one that has already ended.
func addMany(fake *calapitest.Server, n int) (pending []string) {
	pending = []string{"pending-1"}
	future := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	for i := 1; i <= n; i++ {
		b := calapi.Booking{UID: fmt.Sprintf("bk-%03d", i), EventTypeID: 7, AttendeeEmail: fmt.Sprintf("m%d@example.com", i),
			Start: future, End: future.Add(time.Hour), Status: calapi.StatusPending}
		switch {
		case i%3 == 0:
			b.Status = calapi.StatusAccepted
		case i%5 == 0:
			b.Start, b.End = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		default:
			pending = append(pending, b.UID)
		}
		fake.AddBooking(b)
	}
	return pending
}

func TestListPendingAgainstFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		list      func(ctx context.Context, url string) ([]calapi.Booking, error)
		wantPaths []string
	}{
		{name: "v2", list: func(ctx context.Context, u string) ([]calapi.Booking, error) {
			return calapi.NewClient(u, fakeKey, calapi.Options{}).ListPending(ctx)
		}},
		{name: "v1", list: func(ctx context.Context, u string) ([]calapi.Booking, error) {
			return calapi.NewV1Client(u, fakeKey, calapi.Options{}).ListPending(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, calapi.Options{})
			want := addMany(b.fake, 400) // v2 pages through the pending, v1 through all upcoming
			got, err := tt.list(t.Context(), b.fake.URL)
			require.NoError(t, err)
			var uids []string
			for _, bk := range got {
				uids = append(uids, bk.UID)
				require.Equal(t, calapi.StatusPending, bk.Status)
				stored, ok := b.fake.Booking(bk.UID)
				require.True(t, ok)
				require.Equal(t, stored.AttendeeEmail, bk.AttendeeEmail)
				require.Equal(t, stored.ID, bk.ID)
				require.Equal(t, stored.EventTypeID, bk.EventTypeID)
				require.Equal(t, stored.Start, bk.Start)
			}
			require.Equal(t, want, uids)
			require.GreaterOrEqual(t, len(b.fake.Calls()), 3, "three pages or more")
		})
	}
}

func TestFakeRateLimitReachesTheClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(ctx context.Context, u, key string) error
	}{
		{name: "v2", call: func(ctx context.Context, u, key string) error {
			_, err := calapi.NewClient(u, key, calapi.Options{}).GetBooking(ctx, calapi.BookingRef{UID: "pending-1"})
			return err
		}},
		{name: "v1", call: func(ctx context.Context, u, key string) error {
			_, err := calapi.NewV1Client(u, key, calapi.Options{}).GetBooking(ctx, calapi.BookingRef{ID: 41})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, calapi.Options{})
			b.fake.SetRateLimit(3, time.Minute)
			for range 3 {
				require.NoError(t, tt.call(t.Context(), b.fake.URL, fakeKey))
			}
			err := tt.call(t.Context(), b.fake.URL, fakeKey)
			var apiErr *calapi.APIError
			require.ErrorAs(t, err, &apiErr)
			require.True(t, apiErr.RateLimited())
			require.InDelta(t, 60, apiErr.RetryAfter.Seconds(), 2, "from X-RateLimit-Reset-Default")
			require.Equal(t, 1, b.fake.RateLimited())
			require.NotContains(t, err.Error(), fakeKey)
		})
	}
}

func TestFakeFailuresReachTheV1Client(t *testing.T) {
	t.Parallel()
	t.Run("5xx retried then success", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		b.fake.FailNext(2, http.MethodPatch, "/v1/bookings/41", http.StatusServiceUnavailable, "", "busy")
		require.NoError(t, calapi.NewV1Client(b.fake.URL, fakeKey, calapi.Options{}).Confirm(t.Context(), calapi.BookingRef{ID: 41}))
		var statuses []int
		for _, c := range b.fake.CallsTo(http.MethodPatch, "") {
			statuses = append(statuses, c.Status)
		}
		require.Equal(t, []int{503, 503, 200}, statuses)
	})
	t.Run("scripted 429 without a reset header is not retried", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		b.fake.FailNext(1, http.MethodDelete, "/cancel", http.StatusTooManyRequests, "", "Rate limit exceeded")
		err := calapi.NewV1Client(b.fake.URL, fakeKey, calapi.Options{}).Cancel(t.Context(), calapi.BookingRef{ID: 41}, "x")
		var apiErr *calapi.APIError
		require.ErrorAs(t, err, &apiErr)
		require.True(t, apiErr.RateLimited())
		require.Equal(t, "Rate limit exceeded", apiErr.Message)
		require.Len(t, b.fake.Calls(), 1)
	})
	t.Run("query is recorded without the key", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		require.NoError(t, calapi.NewV1Client(b.fake.URL, fakeKey, calapi.Options{}).Cancel(t.Context(), calapi.BookingRef{ID: 41}, "moved"))
		require.Equal(t, url.Values{"apiKey": {"REDACTED"}, "cancellationReason": {"moved"}}, b.fake.Calls()[0].Query)
	})
}
