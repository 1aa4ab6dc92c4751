// Package calapitest is a fake Cal.com for tests, benchmarks and the demo:
// an in-memory bookings store behind the API v2 and legacy v1 routes that
// calapi.Client and calapi.V1Client call, with Cal.com's headers, response
// shapes, error bodies, pagination and state rules (v2 confirms or declines
// only a pending booking; v1, like the real one, patches any). It records
// every call, can fail or delay chosen calls to exercise retries and
// timeouts, and can enforce Cal.com's per-key rate limit.
//
// It needs no *testing.T, so the demo can run it too. All methods are safe
// for concurrent use.
package calapitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/creditgate/creditgate/calapi"
)

// Server is a fake Cal.com API listening on a local port.
type Server struct {
	// URL is the API's base, without version, as calapi.NewClient wants it.
	URL string

	apiKey string
	srv    *httptest.Server
	mux    *http.ServeMux
	done   chan struct{} // closed by Close, to end delays
	close  sync.Once

	mu        sync.Mutex
	bookings  map[string]*calapi.Booking
	byID      map[int64]string // API v1's id → uid
	nextID    int64
	calls     []Call
	hooks     []func(Call)
	failures  []*failure
	delays    map[route]time.Duration
	limit     rateLimit
	throttled int // 429s answered
}

// Call is one request the server answered.
type Call struct {
	Method string
	// Path is the URL path, without the query.
	Path string
	// Query is the URL's query, nil when it has none. API v1's apiKey is
	// kept as "REDACTED", so that a test sees it was sent and a failing
	// test's output never shows it.
	Query url.Values
	// Body is the request body, e.g. {"reason":"..."} for a decline.
	Body []byte
	// Status is the HTTP status answered.
	Status int
	// At is when the request arrived.
	At time.Time
}

type route struct{ method, pathSuffix string }

func (r route) matches(req *http.Request) bool {
	return (r.method == "" || r.method == req.Method) && strings.HasSuffix(req.URL.Path, r.pathSuffix)
}

type failure struct {
	route
	left          int
	status        int
	code, message string
}

// NewServer starts a fake Cal.com that accepts apiKey as its only key.
// Call Close when done.
func NewServer(apiKey string) *Server {
	s := &Server{
		apiKey:   apiKey,
		mux:      http.NewServeMux(),
		done:     make(chan struct{}),
		bookings: make(map[string]*calapi.Booking),
		byID:     make(map[int64]string),
		delays:   make(map[route]time.Duration),
	}
	s.routes()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close ends any delayed request and shuts the server down.
func (s *Server) Close() {
	s.close.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

// AddBooking stores b, replacing any booking with its UID. A zero ID gets
// the next free id, an empty Status is pending, and Status is normalised
// with calapi.NormalizeStatus. API v1 finds a booking by ID; of bookings
// added with the same ID, it finds the last. It panics on an empty UID,
// which no request could reach.
func (s *Server) AddBooking(b calapi.Booking) {
	if b.UID == "" {
		panic("calapitest: AddBooking needs a UID")
	}
	b.Status = calapi.NormalizeStatus(b.Status)
	if b.Status == "" {
		b.Status = calapi.StatusPending
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.ID == 0 {
		s.nextID++
		b.ID = s.nextID
	}
	s.nextID = max(s.nextID, b.ID)
	if old, ok := s.bookings[b.UID]; ok && s.byID[old.ID] == b.UID {
		delete(s.byID, old.ID)
	}
	s.bookings[b.UID] = &b
	s.byID[b.ID] = b.UID
}

// Booking returns the stored booking with uid, with the reasons given to
// decline or cancel it.
func (s *Server) Booking(uid string) (calapi.Booking, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bookings[uid]
	if !ok {
		return calapi.Booking{}, false
	}
	return *b, true
}

// SetStatus changes a booking's status as if the host had acted in
// Cal.com's UI. An unknown uid is ignored.
func (s *Server) SetStatus(uid, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.bookings[uid]; ok {
		b.Status = calapi.NormalizeStatus(status)
	}
}

// Calls returns every request answered so far, in the order the answers
// were written.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls with method (any if "") whose path ends in
// pathSuffix, e.g. ("POST", "/confirm").
func (s *Server) CallsTo(method, pathSuffix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && strings.HasSuffix(c.Path, pathSuffix) {
			out = append(out, c)
		}
	}
	return out
}

// OnCall adds a hook run after each request is answered, e.g. to measure
// latency. Hooks run on the request's goroutine, concurrently.
func (s *Server) OnCall(hook func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, hook)
}

// FailNext makes the next n requests with method (any if "") whose path ends
// in pathSuffix fail with status and a Cal.com error body carrying code and
// message (v1's {"message"} on /v1/ paths), before any other check, the
// rate limit included. A 429 also carries Cal.com's rate-limit headers,
// with X-RateLimit-Reset-Default at 1 second.
func (s *Server) FailNext(n int, method, pathSuffix string, status int, code, message string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{
		route: route{method, pathSuffix}, left: n, status: status, code: code, message: message,
	})
}

// SetDelay holds matching requests for d before answering them; 0 removes
// the delay. A request whose client gives up stops waiting and is recorded
// with status 499.
func (s *Server) SetDelay(method, pathSuffix string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, route{method, pathSuffix})
		return
	}
	s.delays[route{method, pathSuffix}] = d
}

// statusClientGone records a request whose client went away while delayed,
// as nginx does.
const statusClientGone = 499

// serve records the request, applies delays and injected failures, then
// routes it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Path: r.URL.Path, Query: recordedQuery(r.URL), At: time.Now()}
	call.Body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(call.Body))
	rec := &statusRecorder{ResponseWriter: w}

	if s.wait(r) {
		switch f := s.takeFailure(r); {
		case f != nil:
			writeFailure(rec, r, f)
		case s.throttle(rec, r):
		default:
			s.mux.ServeHTTP(rec, r)
		}
		call.Status = rec.status()
	} else {
		call.Status = statusClientGone
	}
	s.record(call)
}

// wait holds r for the longest matching delay, and reports whether the
// client is still there.
func (s *Server) wait(r *http.Request) bool {
	s.mu.Lock()
	var d time.Duration
	for rt, rd := range s.delays {
		if rt.matches(r) {
			d = max(d, rd)
		}
	}
	s.mu.Unlock()
	if d == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

func (s *Server) takeFailure(r *http.Request) *failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if f.matches(r) {
			f.left--
			if f.left == 0 {
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
			}
			c := *f
			return &c
		}
	}
	return nil
}

// recordedQuery is u's query with the v1 key's value hidden.
func recordedQuery(u *url.URL) url.Values {
	if u.RawQuery == "" {
		return nil
	}
	q := u.Query()
	if q.Has("apiKey") {
		q["apiKey"] = []string{"REDACTED"}
	}
	return q
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	if c.Status == http.StatusTooManyRequests {
		s.throttled++
	}
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, h := range hooks {
		h(c)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
