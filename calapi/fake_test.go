package calapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
)

const fakeKey = "cal_live_fake_key_do_not_log"

type fakeBundle struct {
	fake   *calapitest.Server
	client *calapi.Client
}

// setup starts a fake Cal.com holding one pending booking, "pending-1".
func setup(t *testing.T, opts calapi.Options) fakeBundle {
	t.Helper()
	fake := calapitest.NewServer(fakeKey)
	t.Cleanup(fake.Close)
	fake.AddBooking(calapi.Booking{
		UID: "pending-1", ID: 41, Status: calapi.StatusPending, EventTypeID: 1207, AttendeeEmail: "ada@example.com",
		Start: time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC), End: time.Date(2030, 3, 14, 15, 30, 0, 0, time.UTC),
	})
	return fakeBundle{fake: fake, client: calapi.NewClient(fake.URL, fakeKey, opts)}
}

func TestClientAgainstFake(t *testing.T) {
	t.Parallel()
	ref := calapi.BookingRef{UID: "pending-1", ID: 41}
	tests := []struct {
		name       string
		initial    string // status set before the call; "" keeps pending
		act        func(context.Context, *calapi.Client) error
		wantStatus string // booking status afterwards
		wantErr    int    // APIError status; 0 means success
		wantBody   string // body of the recorded call
	}{
		{name: "confirm pending", act: func(ctx context.Context, c *calapi.Client) error { return c.Confirm(ctx, ref) },
			wantStatus: calapi.StatusAccepted},
		{name: "decline pending", act: func(ctx context.Context, c *calapi.Client) error { return c.Decline(ctx, ref, "balance 0, cost 1") },
			wantStatus: calapi.StatusRejected, wantBody: `{"reason":"balance 0, cost 1"}`},
		{name: "cancel accepted", initial: calapi.StatusAccepted,
			act:        func(ctx context.Context, c *calapi.Client) error { return c.Cancel(ctx, ref, "short of credit") },
			wantStatus: calapi.StatusCancelled, wantBody: `{"cancellationReason":"short of credit"}`},
		{name: "confirm accepted is a 400", initial: calapi.StatusAccepted,
			act: func(ctx context.Context, c *calapi.Client) error { return c.Confirm(ctx, ref) }, wantStatus: calapi.StatusAccepted, wantErr: 400},
		{name: "decline cancelled is a 400", initial: calapi.StatusCancelled,
			act: func(ctx context.Context, c *calapi.Client) error { return c.Decline(ctx, ref, "x") }, wantStatus: calapi.StatusCancelled, wantErr: 400,
			wantBody: `{"reason":"x"}`},
		{name: "cancel cancelled is a 400", initial: calapi.StatusCancelled,
			act: func(ctx context.Context, c *calapi.Client) error { return c.Cancel(ctx, ref, "x") }, wantStatus: calapi.StatusCancelled, wantErr: 400,
			wantBody: `{"cancellationReason":"x"}`},
		{name: "unknown uid is a 404", act: func(ctx context.Context, c *calapi.Client) error {
			return c.Confirm(ctx, calapi.BookingRef{UID: "nope"})
		}, wantStatus: calapi.StatusPending, wantErr: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, calapi.Options{})
			if tt.initial != "" {
				b.fake.SetStatus("pending-1", tt.initial)
			}
			err := tt.act(t.Context(), b.client)
			if tt.wantErr != 0 {
				var apiErr *calapi.APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, tt.wantErr, apiErr.Status)
				require.False(t, apiErr.Temporary())
				require.NotEmpty(t, apiErr.Code)
			} else {
				require.NoError(t, err)
			}
			got, err := b.client.GetBooking(t.Context(), ref)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, got.Status)
			calls := b.fake.Calls()
			require.Len(t, calls, 2)
			require.Equal(t, tt.wantBody, string(calls[0].Body))
		})
	}
}

func TestGetBookingFromFake(t *testing.T) {
	t.Parallel()
	b := setup(t, calapi.Options{})
	require.NoError(t, b.client.Cancel(t.Context(), calapi.BookingRef{UID: "pending-1"}, "moved"))
	got, err := b.client.GetBooking(t.Context(), calapi.BookingRef{UID: "pending-1"})
	require.NoError(t, err)
	want, ok := b.fake.Booking("pending-1")
	require.True(t, ok)
	require.Equal(t, want, got)
	require.Equal(t, "moved", got.CancellationReason)
}

func TestFakeFailuresReachTheClient(t *testing.T) {
	t.Parallel()
	ref := calapi.BookingRef{UID: "pending-1"}
	t.Run("5xx retried then success", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		b.fake.FailNext(2, http.MethodPost, "/confirm", http.StatusServiceUnavailable, "ServiceUnavailableException", "busy")
		require.NoError(t, b.client.Confirm(t.Context(), ref))
		calls := b.fake.CallsTo(http.MethodPost, "/confirm")
		require.Len(t, calls, 3)
		require.Equal(t, []int{503, 503, 200}, []int{calls[0].Status, calls[1].Status, calls[2].Status})
	})
	t.Run("429 is not retried and carries the reset", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		b.fake.FailNext(1, "", "/confirm", http.StatusTooManyRequests, "ThrottlerException", "Too Many Requests")
		err := b.client.Confirm(t.Context(), ref)
		var apiErr *calapi.APIError
		require.ErrorAs(t, err, &apiErr)
		require.True(t, apiErr.RateLimited())
		require.True(t, apiErr.Temporary())
		require.Equal(t, time.Second, apiErr.RetryAfter)
		require.Len(t, b.fake.Calls(), 1)
		got, _ := b.fake.Booking("pending-1")
		require.Equal(t, calapi.StatusPending, got.Status)
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{})
		err := calapi.NewClient(b.fake.URL, "cal_live_wrong", calapi.Options{}).Confirm(t.Context(), ref)
		var apiErr *calapi.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.Status)
		require.NotContains(t, err.Error(), "cal_live_wrong")
	})
	t.Run("slow server and a short timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, calapi.Options{Timeout: 50 * time.Millisecond, RetryMax: -1})
		b.fake.SetDelay(http.MethodPost, "/decline", time.Minute)
		start := time.Now()
		err := b.client.Decline(t.Context(), ref, "x")
		var reqErr *calapi.RequestError
		require.ErrorAs(t, err, &reqErr)
		require.True(t, reqErr.Timeout())
		require.Less(t, time.Since(start), 5*time.Second)
		require.NotContains(t, err.Error(), fakeKey)
	})
}
