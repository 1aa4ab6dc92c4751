package calapitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const key = "cal_live_test"

type testBundle struct {
	srv *calapitest.Server
}

func setup(t *testing.T) testBundle {
	t.Helper()
	srv := calapitest.NewServer(key)
	t.Cleanup(srv.Close)
	srv.AddBooking(calapi.Booking{UID: "b1", EventTypeID: 7, AttendeeEmail: "ada@example.com",
		Start: time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC), End: time.Date(2030, 3, 14, 15, 30, 0, 0, time.UTC)})
	return testBundle{srv: srv}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// send makes a raw request with the given headers (nil: the right ones).
func (b testBundle) send(t *testing.T, ctx context.Context, method, path, body string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if header == nil {
		header = http.Header{"Authorization": {"Bearer " + key}, "Cal-Api-Version": {"2024-08-13"}}
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), string(data))
	return answer{status: resp.StatusCode, header: resp.Header, body: out}
}

func errorCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestRoutesAndChecks(t *testing.T) {
	t.Parallel()
	right := http.Header{"Authorization": {"Bearer " + key}, "Cal-Api-Version": {"2024-08-13"}}
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		header   http.Header
		status   int
		code     string // error code; "" for success
		bookings string // b1's status afterwards
	}{
		{name: "get", method: "GET", path: "/v2/bookings/b1", status: 200, bookings: calapi.StatusPending},
		{name: "no key", method: "GET", path: "/v2/bookings/b1", header: http.Header{"Cal-Api-Version": {"2024-08-13"}},
			status: 401, code: "UnauthorizedException", bookings: calapi.StatusPending},
		{name: "wrong key", method: "POST", path: "/v2/bookings/b1/confirm",
			header: http.Header{"Authorization": {"Bearer nope"}, "Cal-Api-Version": {"2024-08-13"}},
			status: 401, code: "UnauthorizedException", bookings: calapi.StatusPending},
		{name: "key without Bearer", method: "GET", path: "/v2/bookings/b1",
			header: http.Header{"Authorization": {key}, "Cal-Api-Version": {"2024-08-13"}}, status: 401, code: "UnauthorizedException",
			bookings: calapi.StatusPending},
		{name: "no version", method: "POST", path: "/v2/bookings/b1/confirm", header: http.Header{"Authorization": {"Bearer " + key}},
			status: 400, code: "BadRequestException", bookings: calapi.StatusPending},
		{name: "old version", method: "POST", path: "/v2/bookings/b1/confirm",
			header: http.Header{"Authorization": {"Bearer " + key}, "Cal-Api-Version": {"2024-06-14"}},
			status: 400, code: "BadRequestException", bookings: calapi.StatusPending},
		{name: "unknown uid", method: "GET", path: "/v2/bookings/zz", status: 404, code: "NotFoundException", bookings: calapi.StatusPending},
		{name: "unknown route", method: "GET", path: "/v2/me", status: 404, code: "NotFoundException", bookings: calapi.StatusPending},
		{name: "wrong method", method: "GET", path: "/v2/bookings/b1/confirm", status: 404, code: "NotFoundException", bookings: calapi.StatusPending},
		{name: "confirm", method: "POST", path: "/v2/bookings/b1/confirm", status: 200, bookings: calapi.StatusAccepted},
		{name: "decline", method: "POST", path: "/v2/bookings/b1/decline", body: `{"reason":"r"}`, status: 200, bookings: calapi.StatusRejected},
		{name: "decline without body", method: "POST", path: "/v2/bookings/b1/decline", status: 200, bookings: calapi.StatusRejected},
		{name: "decline bad JSON", method: "POST", path: "/v2/bookings/b1/decline", body: `{`, status: 400, code: "BadRequestException",
			bookings: calapi.StatusPending},
		{name: "cancel", method: "POST", path: "/v2/bookings/b1/cancel", body: `{"cancellationReason":"c"}`, status: 200,
			bookings: calapi.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			header := tt.header
			if header == nil {
				header = right
			}
			got := b.send(t, t.Context(), tt.method, tt.path, tt.body, header)
			require.Equal(t, tt.status, got.status)
			if tt.code != "" {
				require.Equal(t, "error", got.body["status"])
				require.Equal(t, tt.code, errorCode(got))
				require.Equal(t, tt.path, got.body["path"])
			} else {
				require.Equal(t, "success", got.body["status"])
				data := got.body["data"].(map[string]any)
				require.Equal(t, "b1", data["uid"])
				require.Equal(t, tt.bookings, data["status"])
				require.Equal(t, "2030-03-14T15:00:00.000Z", data["start"])
			}
			booking, ok := b.srv.Booking("b1")
			require.True(t, ok)
			require.Equal(t, tt.bookings, booking.Status)
			calls := b.srv.Calls()
			require.Len(t, calls, 1)
			require.Equal(t, calapitest.Call{Method: tt.method, Path: tt.path, Body: []byte(tt.body), Status: tt.status, At: calls[0].At},
				calls[0], "Body is the raw request body")
		})
	}
}

func TestReasonsAreRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddBooking(calapi.Booking{UID: "b2", Status: "ACCEPTED"})
	require.Equal(t, 200, b.send(t, t.Context(), "POST", "/v2/bookings/b1/decline", `{"reason":"balance 0, cost 1"}`, nil).status)
	require.Equal(t, 200, b.send(t, t.Context(), "POST", "/v2/bookings/b2/cancel", `{"cancellationReason":"late"}`, nil).status)
	again := b.send(t, t.Context(), "POST", "/v2/bookings/b2/cancel", `{}`, nil)
	require.Equal(t, 400, again.status)

	b1, _ := b.srv.Booking("b1")
	require.Equal(t, "balance 0, cost 1", b1.RejectionReason)
	b2, _ := b.srv.Booking("b2")
	require.Equal(t, calapi.StatusCancelled, b2.Status)
	require.Equal(t, "late", b2.CancellationReason)
	require.NotZero(t, b2.ID)
	require.NotEqual(t, b1.ID, b2.ID)
	require.Len(t, b.srv.CallsTo("POST", "/cancel"), 2)
	require.Len(t, b.srv.CallsTo("", "/decline"), 1)
	require.Empty(t, b.srv.CallsTo("GET", "/cancel"))
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.FailNext(2, "POST", "/confirm", 502, "BadGatewayException", "upstream")
	b.srv.FailNext(1, "", "/v2/bookings/b1", 429, "ThrottlerException", "Too Many Requests")

	first := b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil)
	require.Equal(t, 429, first.status)
	require.Equal(t, "1", first.header.Get("X-RateLimit-Reset-Default"))
	require.Equal(t, "ThrottlerException", errorCode(first))
	for range 2 {
		got := b.send(t, t.Context(), "POST", "/v2/bookings/b1/confirm", "", nil)
		require.Equal(t, 502, got.status)
		require.Equal(t, "BadGatewayException", errorCode(got))
	}
	require.Equal(t, 200, b.send(t, t.Context(), "POST", "/v2/bookings/b1/confirm", "", nil).status)
	require.Equal(t, 200, b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil).status)
}

func TestDelayAndHook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hooked atomic.Int32
	b.srv.OnCall(func(c calapitest.Call) {
		if c.Status != 0 && !c.At.IsZero() {
			hooked.Add(1)
		}
	})
	b.srv.SetDelay("POST", "/confirm", 80*time.Millisecond)
	start := time.Now()
	require.Equal(t, 200, b.send(t, t.Context(), "POST", "/v2/bookings/b1/confirm", "", nil).status)
	require.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	b.srv.SetDelay("POST", "/confirm", 0)

	b.srv.SetDelay("GET", "", time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", b.srv.URL+"/v2/bookings/b1", nil)
	require.NoError(t, err)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool { return len(b.srv.Calls()) == 2 }, 2*time.Second, 5*time.Millisecond)
	require.Equal(t, 499, b.srv.Calls()[1].Status)
	require.Equal(t, int32(2), hooked.Load())
}

func TestCloseEndsDelays(t *testing.T) {
	t.Parallel()
	srv := calapitest.NewServer(key)
	srv.SetDelay("", "", time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(srv.URL + "/v2/bookings/x")
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond) // let the request arrive and start waiting
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the delayed request")
	}
	<-done
	srv.Close() // twice is fine
}

func TestConcurrentConfirmsAcceptOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const workers = 32
	statuses := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", b.srv.URL+"/v2/bookings/b1/confirm", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("cal-api-version", "2024-08-13")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	require.Equal(t, map[int]int{200: 1, 400: workers - 1}, count)
	require.Len(t, b.srv.CallsTo("POST", "/confirm"), workers)
}

func TestAddBookingNeedsUID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Panics(t, func() { b.srv.AddBooking(calapi.Booking{}) })
	b.srv.SetStatus("unknown", calapi.StatusAccepted) // ignored
	_, ok := b.srv.Booking("unknown")
	require.False(t, ok)
}
