package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/worker"
)

const (
	benchAPIKey = "bench-api-key"
	benchSecret = "bench-webhook-secret"
	// benchStall is how long a phase waits for the next decision before
	// it gives up.
	benchStall = 30 * time.Second
)

// benchBooking is one distinct BOOKING_REQUESTED: its signed webhook body
// and the task ingest makes of it.
type benchBooking struct {
	uid  string
	body []byte
	task *asynq.Task
}

// makeBookings builds n bookings for a phase, pending at fake when given.
// It does the JSON work up front, so that none of it is timed.
func makeBookings(phase string, n int, fake *calapitest.Server) ([]benchBooking, error) {
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	out := make([]benchBooking, n)
	for i := range out {
		bk := calapi.Booking{UID: fmt.Sprintf("bench-%s-%d", phase, i), ID: int64(i + 1), Status: calapi.StatusPending,
			EventTypeID: benchEventType, AttendeeEmail: benchMember(i), Start: start, End: start.Add(time.Hour)}
		if fake != nil {
			fake.AddBooking(bk)
		}
		body := calapitest.WebhookBody(calapi.TriggerBookingRequested, bk, nil)
		wh, err := calapi.DecodeWebhook(body)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		bt, _ := worker.TaskFromWebhook(wh, "webhook", time.Now())
		task, err := worker.NewBookingTask(bt)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		out[i] = benchBooking{uid: bk.UID, body: body, task: task}
	}
	return out, nil
}

// closedLoop runs do(0..n-1) on c goroutines as fast as they go and
// returns how long all of it took.
func closedLoop(ctx context.Context, n, c int, do func(ctx context.Context, i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, c)
	start := time.Now()
	for g := range c {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := do(ctx, i); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errors.Join(errs...), ctx.Err())
}

// openLoop starts do(i) at i/rate seconds from now, each on its own
// goroutine whether or not the earlier ones are done (a slow answer does
// not slow the senders, as with Cal.com), and waits for all of them.
func openLoop(ctx context.Context, n int, rate float64, do func(ctx context.Context, i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			if err := do(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(first, ctx.Err())
}

// post sends one signed webhook and returns how long the acknowledgement
// took; anything but 202 queued is an error.
func (b *bench) post(ctx context.Context, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	resp, err := calapitest.PostWebhook(ctx, b.client, url, benchSecret, body)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		return d, fmt.Errorf("webhook answered %s", resp.Status)
	}
	return d, nil
}

// arrivals records when each booking was sent and when its decision (the
// confirm at the fake Cal.com, or the no-op handler's call) arrived.
type arrivals struct {
	mu          sync.Mutex
	sent        map[string]time.Time
	seen        map[string]bool
	lat         []time.Duration
	first, last time.Time
	poke        chan struct{}
}

func newArrivals() *arrivals {
	return &arrivals{sent: map[string]time.Time{}, seen: map[string]bool{}, poke: make(chan struct{}, 1)}
}

func (a *arrivals) start(uid string, at time.Time) {
	a.mu.Lock()
	a.sent[uid] = at
	a.mu.Unlock()
}

func (a *arrivals) arrive(uid string, at time.Time) {
	a.mu.Lock()
	if !a.seen[uid] {
		a.seen[uid] = true
		if len(a.seen) == 1 {
			a.first = at
		}
		if at.After(a.last) {
			a.last = at
		}
		if s, ok := a.sent[uid]; ok {
			a.lat = append(a.lat, at.Sub(s))
		}
	}
	a.mu.Unlock()
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// confirms makes a fake Cal.com hook that counts successful confirms.
func (a *arrivals) confirms() func(calapitest.Call) {
	return func(c calapitest.Call) {
		uid, ok := strings.CutSuffix(strings.TrimPrefix(c.Path, "/v2/bookings/"), "/confirm")
		if ok && c.Method == http.MethodPost && c.Status < 300 {
			a.arrive(uid, c.At)
		}
	}
}

// wait returns once n bookings arrived, or fails when none arrives for
// benchStall.
func (a *arrivals) wait(ctx context.Context, n int) error {
	for {
		a.mu.Lock()
		got := len(a.seen)
		a.mu.Unlock()
		if got >= n {
			return nil
		}
		t := time.NewTimer(benchStall)
		select {
		case <-a.poke:
			t.Stop()
		case <-t.C:
			return fmt.Errorf("only %d of %d bookings decided; none in the last %s", got, n, benchStall)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// rate is decisions a second from the first arrival to the last.
func (a *arrivals) rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.last.Sub(a.first)
	if len(a.seen) < 2 || d <= 0 {
		return 0
	}
	return float64(len(a.seen)-1) / d.Seconds()
}

func (a *arrivals) latencies() latencies {
	a.mu.Lock()
	defer a.mu.Unlock()
	return newLatencies(a.lat)
}

// latencies is a sorted sample.
type latencies []time.Duration

func newLatencies(d []time.Duration) latencies {
	l := slices.Clone(d)
	slices.Sort(l)
	return l
}

// at is the nearest-rank percentile q (0..1) in milliseconds.
func (l latencies) at(q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	i := int(q*float64(len(l))+0.999999) - 1
	return float64(l[min(max(i, 0), len(l)-1)]) / float64(time.Millisecond)
}

// durations collects durations from many goroutines.
type durations struct {
	mu sync.Mutex
	d  []time.Duration
}

func (d *durations) add(v time.Duration) {
	d.mu.Lock()
	d.d = append(d.d, v)
	d.mu.Unlock()
}

func (d *durations) sorted() latencies {
	d.mu.Lock()
	defer d.mu.Unlock()
	return newLatencies(d.d)
}
