package calapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestV1Client is NewV1Client with a backoff short enough for tests.
func newTestV1Client(baseURL string, opts Options) *V1Client {
	c := NewV1Client(baseURL, testKey, opts)
	c.http.RetryWaitMin, c.http.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	return c
}

func v1BookingJSON(status string) string {
	return `{"booking":{"id":48213,"userId":5,"description":"","eventTypeId":1207,"uid":"bQ8","title":"Intro call",
	"startTime":"2030-03-14T15:00:00.000Z","endTime":"2030-03-14T15:30:00.000Z","timeZone":null,
	"attendees":[{"id":9,"email":"ada@example.com","name":"Ada","timeZone":"Europe/Paris","locale":"en"}],
	"user":{"email":"grace@host.example","name":"Grace","timeZone":"Europe/London","locale":"en"},"payment":[],
	"metadata":{},"status":"` + status + `","responses":{"email":"ada@example.com","name":"Ada"},
	"fromReschedule":null,"cancelledBy":null,"rescheduledBy":null,"createdAt":"2030-03-01T09:00:00.000Z"}}`
}

// v1Request is one request a v1 test server saw.
type v1Request struct {
	method, path string
	query        url.Values
	body         string
}

// v1Server answers v1 requests from answer and records them.
type v1Server struct {
	*httptest.Server
	mu   sync.Mutex
	seen []v1Request
}

func newV1Server(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *v1Server {
	t.Helper()
	s := &v1Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, v1Request{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.Query(), body: string(body)})
		s.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *v1Server) requests() []v1Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]v1Request(nil), s.seen...)
}

func TestV1ClientSendsWhatCalcomExpects(t *testing.T) {
	t.Parallel()
	ref := BookingRef{UID: "bQ8", ID: 48213}
	get := v1Request{method: http.MethodGet, path: "/v1/bookings/48213", query: url.Values{"apiKey": {testKey}}}
	tests := []struct {
		name string
		base string // appended to the server URL
		call func(context.Context, *V1Client) error
		want []v1Request
	}{
		{name: "get", call: func(ctx context.Context, c *V1Client) error {
			_, err := c.GetBooking(ctx, ref)
			return err
		}, want: []v1Request{get}},
		{name: "confirm reads, then patches", call: func(ctx context.Context, c *V1Client) error {
			return c.Confirm(ctx, ref)
		}, want: []v1Request{get, {method: http.MethodPatch, path: "/v1/bookings/48213",
			query: url.Values{"apiKey": {testKey}}, body: `{"status":"ACCEPTED"}`}}},
		{name: "decline reads, then cancels with the reason", call: func(ctx context.Context, c *V1Client) error {
			return c.Decline(ctx, ref, "balance 0, cost 2 & more")
		}, want: []v1Request{get, {method: http.MethodDelete, path: "/v1/bookings/48213/cancel",
			query: url.Values{"apiKey": {testKey}, "cancellationReason": {"balance 0, cost 2 & more"}}}}},
		{name: "cancel", call: func(ctx context.Context, c *V1Client) error {
			return c.Cancel(ctx, ref, "short of credit")
		}, want: []v1Request{{method: http.MethodDelete, path: "/v1/bookings/48213/cancel",
			query: url.Values{"apiKey": {testKey}, "cancellationReason": {"short of credit"}}}}},
		{name: "base with prefix and trailing slash", base: "/api/", call: func(ctx context.Context, c *V1Client) error {
			return c.Cancel(ctx, ref, "x")
		}, want: []v1Request{{method: http.MethodDelete, path: "/api/v1/bookings/48213/cancel",
			query: url.Values{"apiKey": {testKey}, "cancellationReason": {"x"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPatch && r.Header.Get("Content-Type") != "application/json" {
					http.Error(w, "not JSON", http.StatusTeapot)
					return
				}
				if r.Header.Get("Authorization") != "" {
					http.Error(w, "v1 takes no Authorization", http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, v1BookingJSON("PENDING"))
			})
			require.NoError(t, tt.call(t.Context(), newTestV1Client(srv.URL+tt.base, Options{})))
			require.Equal(t, tt.want, srv.requests())
		})
	}
}

func TestV1GetBookingDecodes(t *testing.T) {
	t.Parallel()
	want := Booking{
		UID: "bQ8", ID: 48213, Status: StatusPending, EventTypeID: 1207,
		Start: time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC), End: time.Date(2030, 3, 14, 15, 30, 0, 0, time.UTC),
		AttendeeEmail: "ada@example.com",
	}
	tests := []struct {
		name    string
		body    string
		want    Booking
		wantErr string
	}{
		{name: "v1 booking", body: v1BookingJSON("PENDING"), want: want},
		{name: "cancelled, ids as strings, email only in responses", body: `{"booking":{"id":"48213","uid":"bQ8",
			"status":"CANCELLED","eventTypeId":"1207","startTime":"2030-03-14T15:00:00Z","endTime":"2030-03-14T15:30:00Z",
			"attendees":[],"responses":{"email":" ada@example.com "}}}`,
			want: func() Booking { b := want; b.Status = StatusCancelled; return b }()},
		{name: "no booking", body: `{}`, wantErr: "no booking"},
		{name: "bad time", body: `{"booking":{"id":1,"startTime":"soon"}}`, wantErr: `booking.startTime: "soon"`},
		{name: "not JSON", body: `<html>`, wantErr: "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, tt.body) })
			got, err := newTestV1Client(srv.URL, Options{}).GetBooking(t.Context(), BookingRef{ID: 48213})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// v1 would accept or cancel a booking in any state: the client must not.
func TestV1RefusesWhatIsNoLongerPending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status string
		call   func(context.Context, *V1Client) error
	}{
		{name: "confirm a cancelled booking", status: "CANCELLED", call: func(ctx context.Context, c *V1Client) error {
			return c.Confirm(ctx, BookingRef{ID: 48213})
		}},
		{name: "decline a booking the host accepted", status: "ACCEPTED", call: func(ctx context.Context, c *V1Client) error {
			return c.Decline(ctx, BookingRef{ID: 48213}, "no credit")
		}},
		{name: "confirm a rejected booking", status: "REJECTED", call: func(ctx context.Context, c *V1Client) error {
			return c.Confirm(ctx, BookingRef{ID: 48213})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, v1BookingJSON(tt.status))
			})
			err := tt.call(t.Context(), newTestV1Client(srv.URL, Options{}))
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusBadRequest, apiErr.Status)
			require.Equal(t, NotPending, apiErr.Code)
			require.False(t, apiErr.Temporary())
			require.Contains(t, apiErr.Message, "is not pending, it is "+NormalizeStatus(tt.status))
			require.Len(t, srv.requests(), 1, "only the read went out")
			require.Equal(t, http.MethodGet, srv.requests()[0].method)
		})
	}
}

func TestV1ClientErrors(t *testing.T) {
	t.Parallel()
	resetAt := time.Now().Add(30 * time.Second)
	tests := []struct {
		name         string
		status       int
		header       http.Header
		body         string
		want         APIError // Method and Path are filled in
		wantRetry    time.Duration
		temporary    bool
		wantAttempts int
	}{
		{name: "no key", status: 401, body: `{"message":"No apiKey provided"}`,
			want: APIError{Status: 401, Message: "No apiKey provided"}, wantAttempts: 1},
		{name: "older instances say error", status: 401, body: `{"error":"Your apiKey is not valid"}`,
			want: APIError{Status: 401, Message: "Your apiKey is not valid"}, wantAttempts: 1},
		{name: "not found", status: 404, body: `{"message":"Booking not found"}`,
			want: APIError{Status: 404, Message: "Booking not found"}, wantAttempts: 1},
		{name: "server echoes the URL", status: 400, body: `{"message":"bad","url":"/api/v1/bookings/7?apiKey=` + testKey + `"}`,
			want: APIError{Status: 400, Message: "bad"}, wantAttempts: 1},
		{name: "message with the key is redacted", status: 403, body: `{"message":"key ` + testKey + ` may not"}`,
			want: APIError{Status: 403, Message: "key [redacted] may not"}, wantAttempts: 1},
		{name: "429 with v1's reset in unix milliseconds", status: 429,
			header: http.Header{"X-Ratelimit-Limit": {"120"}, "X-Ratelimit-Remaining": {"0"},
				"X-Ratelimit-Reset": {strconv.FormatInt(resetAt.UnixMilli(), 10)}},
			body: `{"message":"Rate limit exceeded"}`, want: APIError{Status: 429, Message: "Rate limit exceeded"},
			wantRetry: 30 * time.Second, temporary: true, wantAttempts: 1},
		{name: "429 without headers", status: 429, body: `{"message":"Too many requests"}`,
			want: APIError{Status: 429, Message: "Too many requests"}, temporary: true, wantAttempts: 1},
		{name: "500 retried", status: 500, body: `{"message":"Internal Server Error"}`,
			want: APIError{Status: 500, Message: "Internal Server Error"}, temporary: true, wantAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			err := newTestV1Client(srv.URL, Options{}).Cancel(t.Context(), BookingRef{ID: 7}, "r")
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			require.InDelta(t, tt.wantRetry.Seconds(), apiErr.RetryAfter.Seconds(), 10, "a reset in unix time counts from when the table was built")
			got := *apiErr
			got.RetryAfter = 0
			want := tt.want
			want.Method, want.Path = http.MethodDelete, "/v1/bookings/7/cancel"
			require.Equal(t, want, got)
			require.Equal(t, tt.temporary, apiErr.Temporary())
			require.Len(t, srv.requests(), tt.wantAttempts)
			require.Contains(t, err.Error(), "cancel booking: cal.com DELETE /v1/bookings/7/cancel: ")
			requireNoKey(t, err)
		})
	}
}

func TestV1ClientRefusesBadInput(t *testing.T) {
	t.Parallel()
	srv := newV1Server(t, func(http.ResponseWriter, *http.Request) {})
	c := newTestV1Client(srv.URL, Options{})
	noID := BookingRef{UID: "only-a-uid"}
	_, err := c.GetBooking(t.Context(), noID)
	require.ErrorIs(t, err, ErrNoID)
	require.ErrorIs(t, c.Confirm(t.Context(), noID), ErrNoID)
	require.ErrorIs(t, c.Decline(t.Context(), noID, "x"), ErrNoID)
	require.ErrorIs(t, c.Cancel(t.Context(), noID, "x"), ErrNoID)
	err = NewV1Client("cal.example.com", testKey, Options{}).Cancel(t.Context(), BookingRef{ID: 1}, "x")
	require.ErrorContains(t, err, "not an absolute URL")
	require.Empty(t, srv.requests())
}

// requireNoKey checks err, everything it wraps and the fields of the
// calapi errors in it for the test key, raw or escaped.
func requireNoKey(t *testing.T, err error) {
	t.Helper()
	forms := []string{testKey, url.QueryEscape(testKey)}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, f := range forms {
			require.NotContains(t, e.Error(), f)
		}
		var apiErr *APIError
		if errors.As(e, &apiErr) {
			for _, f := range forms {
				require.NotContains(t, apiErr.Path+apiErr.Message+apiErr.Code, f)
			}
		}
		var reqErr *RequestError
		if errors.As(e, &reqErr) {
			for _, f := range forms {
				require.NotContains(t, reqErr.Path, f)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
}
