package calapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a log sink safe for the client's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// API v1 carries the key in the query string. Whatever goes wrong, neither
// the error (nor anything it wraps) nor a log line may show it.
func TestV1KeyNeverLeaks(t *testing.T) {
	t.Parallel()
	hijackClose := func(w http.ResponseWriter, _ *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}
	block := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		opts    Options
		check   func(*testing.T, error)
	}{
		{name: "connection refused", check: isRequestError},
		{name: "connection dropped", handler: hijackClose, opts: Options{RetryMax: 1}, check: isRequestError},
		{name: "timeout", handler: block, opts: Options{Timeout: 50 * time.Millisecond, RetryMax: 1},
			check: func(t *testing.T, err error) {
				var reqErr *RequestError
				require.ErrorAs(t, err, &reqErr)
				require.True(t, reqErr.Timeout())
			}},
		{name: "4xx echoing the request", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"bad request to `+r.URL.String()+`"}`)
		}, check: isStatus(400)},
		{name: "5xx with an HTML body quoting the URL", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>upstream failed for "+r.URL.RequestURI()+"</html>")
		}, check: isStatus(502)},
		{name: "429", handler: status(429, `{"message":"Rate limit exceeded"}`), check: isStatus(429)},
		{name: "redirect of a PATCH is not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				_, _ = io.WriteString(w, v1BookingJSON("PENDING"))
				return
			}
			http.Redirect(w, r, "https://elsewhere.example"+r.URL.RequestURI(), http.StatusMovedPermanently)
		}, check: isStatus(301)},
		{name: "answer that is not JSON", handler: status(200, "<html>"+testKey+"</html>"),
			check: func(t *testing.T, err error) { require.ErrorContains(t, err, "decode response") }},
		{name: "local limit", handler: status(200, v1BookingJSON("PENDING")),
			opts: Options{Limiter: limiterFunc(func() (time.Duration, error) { return time.Second, nil })},
			check: func(t *testing.T, err error) {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, LocalRateLimit, apiErr.Code)
			}},
		{name: "limiter down", handler: status(200, v1BookingJSON("PENDING")),
			opts: Options{Limiter: limiterFunc(func() (time.Duration, error) {
				return 0, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
			})},
			check: isRequestError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := closedURL(t)
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			var logs syncBuffer
			opts := tt.opts
			opts.Logger = newDebugLogger(&logs)
			c := newTestV1Client(base, opts)
			require.Nil(t, c.http.Logger, "retryablehttp's own logger would print URLs")

			ref := BookingRef{ID: 7}
			calls := map[string]func(context.Context) error{
				"get":     func(ctx context.Context) error { _, err := c.GetBooking(ctx, ref); return err },
				"confirm": func(ctx context.Context) error { return c.Confirm(ctx, ref) },
				"decline": func(ctx context.Context) error { return c.Decline(ctx, ref, "no credit") },
				"cancel":  func(ctx context.Context) error { return c.Cancel(ctx, ref, "no credit") },
				"list":    func(ctx context.Context) error { _, err := c.ListPending(ctx); return err },
			}
			for name, call := range calls {
				err := call(t.Context())
				if tt.name == "redirect of a PATCH is not followed" && (name == "get" || name == "list") {
					continue // only what changes a booking is redirected
				}
				if tt.name == "answer that is not JSON" && name == "cancel" {
					continue // a cancel's answer is not read
				}
				require.Error(t, err, name)
				tt.check(t, err)
				requireNoKey(t, err)
			}
			require.NotEmpty(t, logs.String())
			require.NotContains(t, logs.String(), testKey)
			require.NotContains(t, logs.String(), url.QueryEscape(testKey))
			require.NotContains(t, logs.String(), "apiKey")
		})
	}
}

type limiterFunc func() (time.Duration, error)

func (f limiterFunc) Allow(context.Context) (time.Duration, error) { return f() }

func isRequestError(t *testing.T, err error) {
	t.Helper()
	var reqErr *RequestError
	require.ErrorAs(t, err, &reqErr)
	require.True(t, reqErr.Temporary())
}

func isStatus(code int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, code, apiErr.Status)
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := url.URL{Scheme: "http", Host: ln.Addr().String()}
	require.NoError(t, ln.Close())
	return u.String()
}

func newDebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
