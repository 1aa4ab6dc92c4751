package calapitest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
)

func message(a answer) string {
	m, _ := a.body["message"].(string)
	return m
}

func TestV1RoutesAndChecks(t *testing.T) {
	t.Parallel()
	withKey := "?apiKey=" + key
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		initial string // b1's status before; "" pending
		status  int
		message string // v1 error message; "" for success
		after   string // b1's status afterwards
		reason  string // b1's cancellation reason afterwards
	}{
		{name: "get", method: "GET", path: "/v1/bookings/1" + withKey, status: 200},
		{name: "no key", method: "GET", path: "/v1/bookings/1", status: 401, message: "No apiKey provided"},
		{name: "wrong key", method: "PATCH", path: "/v1/bookings/1?apiKey=nope", body: `{"status":"ACCEPTED"}`,
			status: 401, message: "Your apiKey is not valid"},
		{name: "v2 Bearer is not v1's key", method: "GET", path: "/v1/bookings/1", status: 401, message: "No apiKey provided"},
		{name: "unknown id", method: "GET", path: "/v1/bookings/99" + withKey, status: 404, message: "Booking not found"},
		{name: "id not a number", method: "GET", path: "/v1/bookings/b1" + withKey, status: 400,
			message: "id: Expected number, received nan"},
		{name: "accept", method: "PATCH", path: "/v1/bookings/1" + withKey, body: `{"status":"ACCEPTED"}`, status: 200,
			after: calapi.StatusAccepted},
		{name: "accept what is cancelled: v1 does not check", method: "PATCH", path: "/v1/bookings/1" + withKey,
			body: `{"status":"ACCEPTED"}`, initial: calapi.StatusCancelled, status: 200, after: calapi.StatusAccepted},
		{name: "patch with an unknown field", method: "PATCH", path: "/v1/bookings/1" + withKey, body: `{"state":"ACCEPTED"}`,
			status: 400, message: "Unrecognized key(s) in object: 'state'"},
		{name: "patch with a bad status", method: "PATCH", path: "/v1/bookings/1" + withKey, body: `{"status":"accepted"}`,
			status: 400, message: "status: Invalid enum value. Received 'accepted'"},
		{name: "patch bad JSON", method: "PATCH", path: "/v1/bookings/1" + withKey, body: `{`, status: 400},
		{name: "cancel", method: "DELETE", path: "/v1/bookings/1/cancel" + withKey + "&cancellationReason=no+credit",
			status: 200, after: calapi.StatusCancelled, reason: "no credit"},
		{name: "cancel without a reason", method: "DELETE", path: "/v1/bookings/1/cancel" + withKey, status: 200,
			after: calapi.StatusCancelled, reason: "Not Provided"},
		{name: "cancel twice", method: "DELETE", path: "/v1/bookings/1/cancel" + withKey, initial: calapi.StatusCancelled,
			status: 400, message: "This booking has already been cancelled."},
		{name: "cancel needs DELETE", method: "POST", path: "/v1/bookings/1/cancel" + withKey, status: 404, message: "Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b1, _ := b.srv.Booking("b1")
			require.Equal(t, int64(1), b1.ID)
			if tt.initial != "" {
				b.srv.SetStatus("b1", tt.initial)
			}
			header := http.Header{} // not send's v2 headers
			if tt.name == "v2 Bearer is not v1's key" {
				header.Set("Authorization", "Bearer "+key)
			}
			got := b.send(t, t.Context(), tt.method, tt.path, tt.body, header)
			require.Equal(t, tt.status, got.status)
			if tt.status != 200 {
				if tt.message != "" {
					require.Equal(t, tt.message, message(got))
				}
				require.Equal(t, []string{"message"}, keys(got.body), "v1 errors are {\"message\"} only")
			}
			after := tt.after
			if after == "" {
				after = calapi.NormalizeStatus(tt.initial)
				if after == "" {
					after = calapi.StatusPending
				}
			}
			stored, _ := b.srv.Booking("b1")
			require.Equal(t, after, stored.Status)
			require.Equal(t, tt.reason, stored.CancellationReason)
			if tt.method == "GET" && tt.status == 200 {
				bk := got.body["booking"].(map[string]any)
				require.Equal(t, "b1", bk["uid"])
				require.Equal(t, "PENDING", bk["status"])
				require.Equal(t, "2030-03-14T15:00:00.000Z", bk["startTime"])
				require.Equal(t, "ada@example.com", bk["attendees"].([]any)[0].(map[string]any)["email"])
			}
			calls := b.srv.Calls()
			require.Len(t, calls, 1)
			if calls[0].Query.Has("apiKey") {
				require.Equal(t, "REDACTED", calls[0].Query.Get("apiKey"), "the key is never recorded")
			}
		})
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// addBookings adds n pending bookings u001.. starting tomorrow, and one
// accepted, one cancelled and one ended pending booking.
func addBookings(srv *calapitest.Server, n int) {
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Minute)
	for i := 1; i <= n; i++ {
		srv.AddBooking(calapi.Booking{UID: fmt.Sprintf("u%03d", i), EventTypeID: 7, AttendeeEmail: "m@example.com",
			Start: start, End: start.Add(time.Hour)})
	}
	srv.AddBooking(calapi.Booking{UID: "accepted", Status: calapi.StatusAccepted, Start: start, End: start.Add(time.Hour)})
	srv.AddBooking(calapi.Booking{UID: "cancelled", Status: calapi.StatusCancelled, Start: start, End: start.Add(time.Hour)})
	srv.AddBooking(calapi.Booking{UID: "ended", Start: time.Now().Add(-2 * time.Hour), End: time.Now().Add(-time.Hour)})
}

func uids(t *testing.T, list []any) []string {
	t.Helper()
	var out []string
	for _, item := range list {
		out = append(out, item.(map[string]any)["uid"].(string))
	}
	return out
}

func TestV2ListPaginates(t *testing.T) {
	t.Parallel()
	b := setup(t) // b1, pending, 2030
	addBookings(b.srv, 7)
	tests := []struct {
		name     string
		query    string
		status   int
		want     []string
		hasNext  bool
		total    float64
		page     float64
		errorMsg string
	}{
		{name: "unconfirmed, first page", query: "?status=unconfirmed&take=3", status: 200,
			want: []string{"b1", "u001", "u002"}, hasNext: true, total: 8, page: 1},
		{name: "unconfirmed, last page", query: "?status=unconfirmed&take=3&skip=6", status: 200,
			want: []string{"u006", "u007"}, total: 8, page: 3},
		{name: "past the end", query: "?status=unconfirmed&skip=50", status: 200, total: 8, page: 1},
		{name: "cancelled", query: "?status=cancelled", status: 200, want: []string{"cancelled"}, total: 1, page: 1},
		{name: "two statuses", query: "?status=cancelled,past", status: 200, want: []string{"cancelled", "ended"}, total: 2, page: 1},
		{name: "no filter", query: "?take=250", status: 200, total: 11, page: 1,
			want: []string{"b1", "u001", "u002", "u003", "u004", "u005", "u006", "u007", "accepted", "cancelled", "ended"}},
		{name: "bad status", query: "?status=pending", status: 400, errorMsg: "Invalid status"},
		{name: "take too large", query: "?take=251", status: 400},
		{name: "negative skip", query: "?skip=-1", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := b.send(t, t.Context(), "GET", "/v2/bookings"+tt.query, "", nil)
			require.Equal(t, tt.status, got.status)
			if tt.status != 200 {
				require.Equal(t, "BadRequestException", errorCode(got))
				return
			}
			require.Equal(t, tt.want, uids(t, got.body["data"].([]any)))
			p := got.body["pagination"].(map[string]any)
			require.Equal(t, tt.hasNext, p["hasNextPage"])
			require.Equal(t, tt.total, p["totalItems"])
			require.Equal(t, tt.page, p["currentPage"])
			require.Equal(t, float64(len(tt.want)), p["returnedItems"])
		})
	}
}

func TestV1ListPaginatesOnlyWithTakeAndPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addBookings(b.srv, 4)
	all := []string{"b1", "u001", "u002", "u003", "u004", "accepted", "cancelled", "ended"}
	tests := []struct {
		query string
		want  []string
	}{
		{query: "", want: all},
		{query: "&take=3", want: all}, // take alone is ignored, as by the real one
		{query: "&take=3&page=1", want: all[:3]},
		{query: "&take=3&page=3", want: all[6:]},
		{query: "&take=3&page=4"},
		{query: "&status=upcoming", want: all[:7]},
		{query: "&status=upcoming&take=5&page=2", want: all[5:7]},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			got := b.send(t, t.Context(), "GET", "/v1/bookings?apiKey="+key+tt.query, "", http.Header{})
			require.Equal(t, 200, got.status)
			require.Equal(t, tt.want, uids(t, got.body["bookings"].([]any)))
		})
	}
	bad := b.send(t, t.Context(), "GET", "/v1/bookings?apiKey="+key+"&status=past", "", http.Header{})
	require.Equal(t, 400, bad.status)
}

func TestSetRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const window = 1500 * time.Millisecond
	b.srv.SetRateLimit(3, window)
	v1 := func(apiKey string) answer {
		return b.send(t, t.Context(), "GET", "/v1/bookings/1?apiKey="+apiKey, "", http.Header{})
	}
	start := time.Now()
	for i := range 3 {
		got := b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil)
		require.Equal(t, 200, got.status)
		require.Equal(t, "3", got.header.Get("X-RateLimit-Limit-Default"))
		require.Equal(t, strconv.Itoa(2-i), got.header.Get("X-RateLimit-Remaining-Default"))
		require.Equal(t, "2", got.header.Get("X-RateLimit-Reset-Default"), "whole seconds, rounded up")
	}
	over := b.send(t, t.Context(), "POST", "/v2/bookings/b1/confirm", "", nil)
	require.Equal(t, 429, over.status)
	require.Equal(t, "ThrottlerException", errorCode(over))
	require.Equal(t, "0", over.header.Get("X-RateLimit-Remaining-Default"))
	require.NotEmpty(t, over.header.Get("X-RateLimit-Reset-Default"))
	stored, _ := b.srv.Booking("b1")
	require.Equal(t, calapi.StatusPending, stored.Status, "a throttled call does nothing")

	// v1 presents the same key in the query: same window.
	overV1 := v1(key)
	require.Equal(t, 429, overV1.status)
	require.Equal(t, "Rate limit exceeded", message(overV1))
	// Another key has a window of its own.
	require.Equal(t, 401, v1("other-key").status)
	require.Equal(t, 2, b.srv.RateLimited())

	// Scripted failures come first and do not count.
	b.srv.FailNext(1, "GET", "/v2/bookings/b1", 503, "ServiceUnavailableException", "busy")
	require.Equal(t, 503, b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil).status)

	time.Sleep(time.Until(start.Add(window + 50*time.Millisecond)))
	require.Equal(t, 200, b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil).status, "a new window")
	require.Equal(t, 2, b.srv.RateLimited())

	b.srv.SetRateLimit(0, 0)
	for range 5 {
		got := b.send(t, t.Context(), "GET", "/v2/bookings/b1", "", nil)
		require.Equal(t, 200, got.status)
		require.Empty(t, got.header.Get("X-RateLimit-Limit-Default"))
	}
}

func TestFailNextOnV1Routes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.FailNext(1, "PATCH", "/v1/bookings/1", 502, "BadGatewayException", "upstream")
	b.srv.FailNext(1, "", "/cancel", 429, "", "Too many requests")
	path := "/v1/bookings/1?" + url.Values{"apiKey": {key}}.Encode()

	got := b.send(t, t.Context(), "PATCH", path, `{"status":"ACCEPTED"}`, http.Header{})
	require.Equal(t, 502, got.status)
	require.Equal(t, map[string]any{"message": "upstream"}, got.body)
	throttled := b.send(t, t.Context(), "DELETE", "/v1/bookings/1/cancel?apiKey="+key, "", http.Header{})
	require.Equal(t, 429, throttled.status)
	require.Equal(t, "1", throttled.header.Get("X-RateLimit-Reset-Default"))
	require.Equal(t, 1, b.srv.RateLimited())
	require.Equal(t, 200, b.send(t, t.Context(), "PATCH", path, `{"status":"ACCEPTED"}`, http.Header{}).status)
}
