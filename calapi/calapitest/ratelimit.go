package calapitest

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// rateLimit is Cal.com's throttler as NestJS's ThrottlerGuard runs it: a
// window per key that opens with its first request; past n requests in it,
// 429 until it closes.
type rateLimit struct {
	n       int
	window  time.Duration
	windows map[string]*throttleWindow
}

type throttleWindow struct {
	ends time.Time
	hits int
}

// SetRateLimit makes the server allow n requests per window per API key,
// as Cal.com does (120 a minute); n <= 0 removes the limit. Every API
// answer then carries X-RateLimit-Limit-Default, X-RateLimit-Remaining-Default
// and X-RateLimit-Reset-Default (whole seconds until the window closes), and
// a request past the limit is answered 429 with Cal.com's
// ThrottlerException body (v1: {"message":"Rate limit exceeded"}). Calls
// failed by FailNext do not count.
func (s *Server) SetRateLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || window <= 0 {
		s.limit = rateLimit{}
		return
	}
	s.limit = rateLimit{n: n, window: window, windows: make(map[string]*throttleWindow)}
}

// RateLimited returns how many 429s the server has answered, whether its
// rate limit or FailNext sent them.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// throttle counts r against its key's window and sets the rate-limit
// headers; it answers 429 and returns true when the window is spent.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/v2/") {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	lim := s.limit
	if lim.n == 0 {
		s.mu.Unlock()
		return false
	}
	key := requestKey(r)
	win := lim.windows[key]
	if win == nil || !now.Before(win.ends) {
		win = &throttleWindow{ends: now.Add(lim.window)}
		lim.windows[key] = win
	}
	win.hits++
	hits, ends := win.hits, win.ends
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit-Default", strconv.Itoa(lim.n))
	h.Set("X-RateLimit-Remaining-Default", strconv.Itoa(max(0, lim.n-hits)))
	h.Set("X-RateLimit-Reset-Default", strconv.Itoa(int(math.Ceil(ends.Sub(now).Seconds()))))
	if hits <= lim.n {
		return false
	}
	if isV1(r) {
		writeV1Error(w, http.StatusTooManyRequests, "Rate limit exceeded")
	} else {
		writeError(w, r, http.StatusTooManyRequests, "ThrottlerException", "ThrottlerException: Too Many Requests")
	}
	return true
}

// requestKey is the API key a request presents, v2's bearer token or v1's
// apiKey, or "" for none: keyless requests share one window.
func requestKey(r *http.Request) string {
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return key
	}
	return r.URL.Query().Get("apiKey")
}
