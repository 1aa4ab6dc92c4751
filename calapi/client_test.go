package calapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testKey = "cal_live_0123456789abcdef"

// newTestClient is NewClient with a backoff short enough for tests.
func newTestClient(baseURL string, opts Options) *Client {
	c := NewClient(baseURL, testKey, opts)
	c.http.RetryWaitMin, c.http.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	return c
}

const bookingJSON = `{"status":"success","data":{"id":48213,"uid":"bQ8","title":"Intro call","status":"pending",
	"start":"2030-03-14T15:00:00.000Z","end":"2030-03-14T15:30:00.000Z","duration":30,"eventTypeId":1207,
	"eventType":{"id":1207,"slug":"intro"},"attendees":[{"name":"Ada","email":"ada@example.com","timeZone":"Europe/Paris","absent":false}],
	"hosts":[{"id":5,"name":"Grace","email":"grace@host.example"}],"bookingFieldsResponses":{"email":"ada@example.com"}}}`

func TestClientSendsWhatCalcomExpects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string // appended to the server URL
		call     func(context.Context, *Client) error
		method   string
		path     string // as sent, escaped
		wantBody string // "" means no body
	}{
		{name: "get", call: func(ctx context.Context, c *Client) error {
			_, err := c.GetBooking(ctx, BookingRef{UID: "bQ8", ID: 48213})
			return err
		}, method: http.MethodGet, path: "/v2/bookings/bQ8"},
		{name: "confirm", call: func(ctx context.Context, c *Client) error {
			return c.Confirm(ctx, BookingRef{UID: "bQ8"})
		}, method: http.MethodPost, path: "/v2/bookings/bQ8/confirm"},
		{name: "decline", call: func(ctx context.Context, c *Client) error {
			return c.Decline(ctx, BookingRef{UID: "bQ8"}, "balance 0, cost 2")
		}, method: http.MethodPost, path: "/v2/bookings/bQ8/decline", wantBody: `{"reason":"balance 0, cost 2"}`},
		{name: "cancel", call: func(ctx context.Context, c *Client) error {
			return c.Cancel(ctx, BookingRef{UID: "bQ8"}, "short of credit")
		}, method: http.MethodPost, path: "/v2/bookings/bQ8/cancel", wantBody: `{"cancellationReason":"short of credit"}`},
		{name: "uid is path-escaped", call: func(ctx context.Context, c *Client) error {
			return c.Confirm(ctx, BookingRef{UID: "a/b c?d"})
		}, method: http.MethodPost, path: "/v2/bookings/a%2Fb%20c%3Fd/confirm"},
		{name: "base with prefix and trailing slash", base: "/cal/", call: func(ctx context.Context, c *Client) error {
			return c.Confirm(ctx, BookingRef{UID: "bQ8"})
		}, method: http.MethodPost, path: "/cal/v2/bookings/bQ8/confirm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				body, _ := io.ReadAll(r.Body)
				if r.Method != tt.method || r.URL.EscapedPath() != tt.path || r.URL.RawQuery != "" {
					http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusTeapot)
					return
				}
				if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("cal-api-version") != "2024-08-13" {
					http.Error(w, "bad headers", http.StatusTeapot)
					return
				}
				if tt.wantBody == "" {
					if len(body) != 0 || r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
						http.Error(w, "unexpected body", http.StatusTeapot)
						return
					}
				} else if r.Header.Get("Content-Type") != "application/json" || string(body) != tt.wantBody {
					http.Error(w, "bad body "+string(body), http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, bookingJSON)
			}))
			defer srv.Close()
			c := newTestClient(srv.URL+tt.base, Options{})
			require.NoError(t, tt.call(t.Context(), c))
			require.Equal(t, int32(1), hits.Load())
		})
	}
}

func TestGetBookingDecodes(t *testing.T) {
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
		{name: "v2 booking", body: bookingJSON, want: want},
		{name: "upper-case status, ids as strings, eventType only", body: `{"status":"success","data":{"id":"48213","uid":"bQ8",
			"status":"CANCELLED","cancellationReason":"moved","eventType":{"id":"1207"},"start":"2030-03-14T15:00:00Z","end":"2030-03-14T15:30:00Z",
			"attendees":[],"bookingFieldsResponses":{"email":" ada@example.com "}}}`,
			want: func() Booking { b := want; b.Status, b.CancellationReason = StatusCancelled, "moved"; return b }()},
		{name: "recurring series answers a list", body: `{"status":"success","data":[{"uid":"other","id":1},
			{"uid":"bQ8","id":48213,"status":"pending","eventTypeId":1207,"start":"2030-03-14T15:00:00Z","end":"2030-03-14T15:30:00Z","attendees":[{"email":"ada@example.com"}]}]}`,
			want: want},
		{name: "list without the uid", body: `{"status":"success","data":[{"uid":"other"}]}`, wantErr: "no booking with uid bQ8 among 1"},
		{name: "no data", body: `{"status":"success"}`, wantErr: "no data"},
		{name: "bad time", body: `{"status":"success","data":{"uid":"bQ8","start":"later"}}`, wantErr: `data.start: "later"`},
		{name: "not JSON", body: `<html>`, wantErr: "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			got, err := newTestClient(srv.URL, Options{}).GetBooking(t.Context(), BookingRef{UID: "bQ8"})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestClientAPIErrors(t *testing.T) {
	t.Parallel()
	calErr := func(code, msg string) string {
		b, _ := json.Marshal(map[string]any{"status": "error", "timestamp": "2030-03-01T09:00:00.000Z",
			"path": "/v2/bookings/bQ8/confirm", "error": map[string]string{"code": code, "message": msg}})
		return string(b)
	}
	tests := []struct {
		name         string
		status       int
		header       http.Header
		body         string
		want         APIError // Method and Path are filled in
		temporary    bool
		rateLimited  bool
		wantAttempts int32
	}{
		{name: "not pending", status: 400, body: calErr("BadRequestException", "Booking with uid=bQ8 is not pending"),
			want: APIError{Status: 400, Code: "BadRequestException", Message: "Booking with uid=bQ8 is not pending"}, wantAttempts: 1},
		{name: "unknown booking", status: 404, body: calErr("NotFoundException", "not found"),
			want: APIError{Status: 404, Code: "NotFoundException", Message: "not found"}, wantAttempts: 1},
		{name: "key echoed back is redacted", status: 401, body: calErr("UnauthorizedException", "key "+testKey+" is invalid"),
			want: APIError{Status: 401, Code: "UnauthorizedException", Message: "key [redacted] is invalid"}, wantAttempts: 1},
		{name: "NestJS bare body", status: 403, body: `{"statusCode":403,"message":["no","access"],"error":"Forbidden"}`,
			want: APIError{Status: 403, Code: "Forbidden", Message: "no; access"}, wantAttempts: 1},
		{name: "429 with Cal.com reset header is not retried", status: 429,
			header:    http.Header{"X-Ratelimit-Remaining-Default": {"0"}, "X-Ratelimit-Reset-Default": {"37"}, "X-Ratelimit-Reset-Burst": {"2"}},
			body:      calErr("ThrottlerException", "Too Many Requests"),
			want:      APIError{Status: 429, Code: "ThrottlerException", Message: "Too Many Requests", RetryAfter: 37 * time.Second},
			temporary: true, rateLimited: true, wantAttempts: 1},
		{name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"5"}},
			want: APIError{Status: 429, Message: "Too Many Requests", RetryAfter: 5 * time.Second}, temporary: true, rateLimited: true, wantAttempts: 1},
		{name: "429 with no delay", status: 429, body: calErr("ThrottlerException", "slow down"),
			want: APIError{Status: 429, Code: "ThrottlerException", Message: "slow down"}, temporary: true, rateLimited: true, wantAttempts: 1},
		{name: "reset header on a 400 is no delay", status: 400, header: http.Header{"X-Ratelimit-Reset-Default": {"60"}},
			body: calErr("BadRequestException", "bad"), want: APIError{Status: 400, Code: "BadRequestException", Message: "bad"}, wantAttempts: 1},
		{name: "408 is temporary", status: 408, body: "timeout",
			want: APIError{Status: 408, Message: "timeout"}, temporary: true, wantAttempts: 1},
		{name: "500 retried, non-JSON body", status: 500, body: "upstream\n\tfailed",
			want: APIError{Status: 500, Message: "upstream failed"}, temporary: true, wantAttempts: 3},
		{name: "502 long HTML is truncated", status: 502, body: "<html>" + strings.Repeat("x", 5000),
			want: APIError{Status: 502, Message: "<html>" + strings.Repeat("x", maxMessage-6) + "…"}, temporary: true, wantAttempts: 3},
		{name: "503 empty body", status: 503, header: http.Header{"Retry-After": {"2"}},
			want: APIError{Status: 503, Message: "Service Unavailable", RetryAfter: 2 * time.Second}, temporary: true, wantAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				attempts.Add(1)
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := newTestClient(srv.URL, Options{}).Confirm(t.Context(), BookingRef{UID: "bQ8"})
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			want := tt.want
			want.Method, want.Path = http.MethodPost, "/v2/bookings/bQ8/confirm"
			require.Equal(t, want, *apiErr)
			require.Equal(t, tt.temporary, apiErr.Temporary())
			require.Equal(t, tt.rateLimited, apiErr.RateLimited())
			require.Equal(t, tt.wantAttempts, attempts.Load())
			require.Contains(t, err.Error(), "confirm booking: cal.com POST /v2/bookings/bQ8/confirm: ")
			require.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		retryMax     int
		failures     int32 // answered 502, or a dropped connection when drop
		drop         bool
		wantErr      bool
		wantAttempts int32
	}{
		{name: "5xx then success", failures: 2, wantAttempts: 3},
		{name: "5xx beyond RetryMax", failures: 5, wantErr: true, wantAttempts: 3},
		{name: "RetryMax 4", retryMax: 4, failures: 4, wantAttempts: 5},
		{name: "negative RetryMax never retries", retryMax: -1, failures: 1, wantErr: true, wantAttempts: 1},
		{name: "dropped connection then success", failures: 1, drop: true, wantAttempts: 2},
		{name: "dropped connections beyond RetryMax", failures: 9, drop: true, wantErr: true, wantAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if attempts.Add(1) <= tt.failures {
					if tt.drop {
						conn, _, _ := w.(http.Hijacker).Hijack()
						_ = conn.Close()
						return
					}
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				_, _ = io.WriteString(w, `{"status":"success","data":{}}`)
			}))
			defer srv.Close()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newTestClient(srv.URL, Options{RetryMax: tt.retryMax, Logger: log})
			err := c.Decline(t.Context(), BookingRef{UID: "bQ8"}, "no credit")
			require.Equal(t, tt.wantAttempts, attempts.Load())
			if tt.wantErr {
				require.Error(t, err)
				require.Contains(t, err.Error(), "/v2/bookings/bQ8/decline")
				require.NotContains(t, err.Error(), srv.URL, "errors name the path, not the URL")
			} else {
				require.NoError(t, err)
			}
			require.Contains(t, logs.String(), "path=/v2/bookings/bQ8/decline")
			require.NotContains(t, logs.String(), testKey)
		})
	}
}

func TestClientGivesUp(t *testing.T) {
	t.Parallel()
	block := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name    string
		opts    Options
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		handler http.HandlerFunc
		check   func(*testing.T, error)
	}{
		{
			name: "timeout per attempt", opts: Options{Timeout: 50 * time.Millisecond, RetryMax: -1}, handler: block,
			check: func(t *testing.T, err error) {
				var reqErr *RequestError
				require.ErrorAs(t, err, &reqErr)
				require.True(t, reqErr.Timeout())
				require.True(t, reqErr.Temporary())
			},
		},
		{
			name: "timeout is retried", opts: Options{Timeout: 30 * time.Millisecond, RetryMax: 1}, handler: block,
			check: func(t *testing.T, err error) {
				var reqErr *RequestError
				require.ErrorAs(t, err, &reqErr)
				require.True(t, reqErr.Timeout())
			},
		},
		{
			name: "context cancelled mid-request", handler: block,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, context.Canceled) },
		},
		{
			name: "context deadline during backoff", opts: Options{RetryMax: 1000},
			handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 100*time.Millisecond)
			},
			// The deadline usually ends a backoff wait; should it land during an
			// attempt, that attempt's answer is returned. Either way, promptly.
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				if !errors.As(err, &apiErr) {
					require.ErrorIs(t, err, context.DeadlineExceeded)
				}
			},
		},
		{
			name: "context already cancelled", handler: block,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx, cancel
			},
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			ctx, cancel := t.Context(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx(ctx)
			}
			defer cancel()
			start := time.Now()
			_, err := NewClient(srv.URL, testKey, tt.opts).GetBooking(ctx, BookingRef{UID: "bQ8"})
			require.Less(t, time.Since(start), 2*time.Second)
			require.Error(t, err)
			tt.check(t, err)
			require.NotContains(t, err.Error(), testKey)
			require.Contains(t, err.Error(), "get booking: ")
		})
	}
}

func TestClientRefusesBadInput(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	err := NewClient(srv.URL, testKey, Options{}).Confirm(t.Context(), BookingRef{ID: 7})
	require.ErrorIs(t, err, ErrNoUID)
	err = NewClient("api.cal.com", testKey, Options{}).Confirm(t.Context(), BookingRef{UID: "u"})
	require.ErrorContains(t, err, "not an absolute URL")
	err = NewClient("https://api.cal.com", testKey, Options{}).Confirm(t.Context(), BookingRef{UID: "  "})
	require.ErrorIs(t, err, ErrNoUID)
	require.Zero(t, hits.Load())
}

func TestRequestErrorHidesQuery(t *testing.T) {
	t.Parallel()
	// API v1 sends the key in the query: a failed call must not show it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}))
	defer srv.Close()
	c := newTestClient(srv.URL, Options{RetryMax: -1})
	_, err := c.do(t.Context(), call{method: http.MethodPatch, path: "/v1/bookings/7",
		query: map[string][]string{"apiKey": {testKey}}})
	var reqErr *RequestError
	require.ErrorAs(t, err, &reqErr)
	require.Equal(t, "/v1/bookings/7", reqErr.Path)
	require.NotContains(t, err.Error(), testKey)
	require.NotContains(t, err.Error(), "apiKey")
	for e := err; e != nil; e = errors.Unwrap(e) {
		require.NotContains(t, e.Error(), testKey)
	}
}
