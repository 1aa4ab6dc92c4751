package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/sqlite"
	"github.com/creditgate/creditgate/worker"
	"github.com/creditgate/creditgate/worker/workertest"
)

const reconcileKey = "reconcile-test-key"

type reconcileBundle struct {
	fake      *calapitest.Server
	rdb       *redis.Client
	client    *asynq.Client
	inspector *asynq.Inspector
	logs      *lockedBuffer
	log       *slog.Logger
	start     time.Time // of the bookings at the fake, in the future
}

func setupReconcile(t *testing.T) *reconcileBundle {
	t.Helper()
	opt, err := redis.ParseURL(workertest.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	fake := calapitest.NewServer(reconcileKey)
	t.Cleanup(func() {
		fake.Close()
		_ = client.Close()
		_ = rdb.Close()
	})
	logs := &lockedBuffer{}
	return &reconcileBundle{
		fake: fake, rdb: rdb, client: client, inspector: inspector, logs: logs,
		log:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		start: time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute),
	}
}

// add puts a booking at the fake.
func (b *reconcileBundle) add(uid string, id int64, status string) calapi.Booking {
	x := calapi.Booking{UID: uid, ID: id, Status: status, EventTypeID: 5, AttendeeEmail: uid + "@example.com",
		Start: b.start, End: b.start.Add(time.Hour)}
	b.fake.AddBooking(x)
	return x
}

// webhook enqueues what ingest would for a BOOKING_REQUESTED of x.
func (b *reconcileBundle) webhook(t *testing.T, x calapi.Booking) {
	t.Helper()
	wh, err := calapi.DecodeWebhook(calapitest.WebhookBody(calapi.TriggerBookingRequested, x, nil))
	require.NoError(t, err)
	bt, ok := worker.TaskFromWebhook(wh, "webhook", time.Now())
	require.True(t, ok)
	task, err := worker.NewBookingTask(bt)
	require.NoError(t, err)
	_, err = b.client.Enqueue(task)
	require.NoError(t, err)
}

// queued returns the booking task queued for uid, if any.
func (b *reconcileBundle) queued(t *testing.T, uid string) (worker.BookingTask, bool) {
	t.Helper()
	info, err := b.inspector.GetTaskInfo(worker.Queue, worker.TaskID(calapi.TriggerBookingRequested, uid))
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return worker.BookingTask{}, false
	}
	require.NoError(t, err)
	require.Equal(t, worker.TypeBookingRequested, info.Type)
	var bt worker.BookingTask
	require.NoError(t, json.Unmarshal(info.Payload, &bt))
	return bt, true
}

func listers() map[string]func(url string) worker.Lister {
	return map[string]func(string) worker.Lister{
		"v2": func(u string) worker.Lister { return calapi.NewClient(u, reconcileKey, calapi.Options{}) },
		"v1": func(u string) worker.Lister { return calapi.NewV1Client(u, reconcileKey, calapi.Options{}) },
	}
}

func TestReconcileEnqueuesWhatNoWebhookBrought(t *testing.T) {
	t.Parallel()
	for name, lister := range listers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupReconcile(t)
			lost := b.add("lost", 11, calapi.StatusPending)
			hooked := b.add("hooked", 12, calapi.StatusPending)
			b.add("accepted", 13, calapi.StatusAccepted)
			b.add("cancelled", 14, calapi.StatusCancelled)
			b.webhook(t, hooked)

			rec := worker.NewReconciler(lister(b.fake.URL), b.client, b.log)
			require.NoError(t, rec.HandleReconcile(t.Context(), worker.NewReconcileTask(time.Now(), time.Minute)))
			require.Contains(t, b.logs.String(), "msg=reconcile found=2 enqueued=1 known=1 failed=0")

			got, ok := b.queued(t, "lost")
			require.True(t, ok, "the booking whose webhook was lost is queued")
			require.NotNil(t, got.StartTime)
			require.Equal(t, lost.Start, *got.StartTime)
			require.WithinDuration(t, time.Now(), got.ReceivedAt, time.Minute)
			got.StartTime, got.ReceivedAt = nil, time.Time{}
			require.Equal(t, worker.BookingTask{Trigger: calapi.TriggerBookingRequested, UID: "lost", BookingID: 11,
				EventTypeID: 5, Status: "PENDING", Email: "lost@example.com", Source: "reconciler"}, got)

			again, ok := b.queued(t, "hooked")
			require.True(t, ok)
			require.Equal(t, "webhook", again.Source, "the webhook's task is left as it was")
			for _, uid := range []string{"accepted", "cancelled"} {
				_, ok := b.queued(t, uid)
				require.False(t, ok, uid)
			}

			// A second round finds both known.
			require.NoError(t, rec.HandleReconcile(t.Context(), worker.NewReconcileTask(time.Now(), time.Minute)))
			require.Contains(t, b.logs.String(), "msg=reconcile found=2 enqueued=0 known=2 failed=0")
			pending, err := b.inspector.ListPendingTasks(worker.Queue)
			require.NoError(t, err)
			require.Len(t, pending, 2)
		})
	}
}

// stubLister answers ListPending with fixed bookings and an error.
type stubLister struct {
	bookings []calapi.Booking
	err      error
}

func (s stubLister) ListPending(context.Context) ([]calapi.Booking, error) { return s.bookings, s.err }

func TestReconcileErrors(t *testing.T) {
	t.Parallel()
	one := []calapi.Booking{{UID: "first-page", ID: 1, Status: calapi.StatusPending}}
	tests := []struct {
		name        string
		lister      worker.Lister
		check       func(*testing.T, error)
		wantQueued  bool
		wantLogLine string
	}{
		{name: "a page rate limited: what was listed is queued, the round retried without a failure",
			lister: stubLister{bookings: one, err: &calapi.APIError{Status: 429, Code: calapi.LocalRateLimit, RetryAfter: 3 * time.Second}},
			check: func(t *testing.T, err error) {
				require.Error(t, err)
				require.False(t, worker.IsFailure(err))
				require.GreaterOrEqual(t, worker.RetryDelay(1, err, nil), 3*time.Second)
				require.False(t, errors.Is(err, asynq.SkipRetry))
			},
			wantQueued: true, wantLogLine: "level=WARN msg=reconcile found=1 enqueued=1 known=0 failed=0"},
		{name: "key refused: no retries",
			lister: stubLister{err: &calapi.APIError{Status: http.StatusUnauthorized, Message: "Invalid API Key"}},
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, asynq.SkipRetry)
				require.True(t, worker.IsFailure(err))
			},
			wantLogLine: "level=WARN msg=reconcile found=0 enqueued=0 known=0 failed=0"},
		{name: "network error: retried",
			lister: stubLister{err: &calapi.RequestError{Method: "GET", Path: "/v2/bookings", Err: errors.New("connection refused")}},
			check: func(t *testing.T, err error) {
				require.ErrorContains(t, err, "reconcile: cal.com GET /v2/bookings: connection refused")
				require.False(t, errors.Is(err, asynq.SkipRetry))
				require.True(t, worker.IsFailure(err))
			}},
		{name: "a booking without uid is counted as failed",
			lister: stubLister{bookings: append([]calapi.Booking{{ID: 9}}, one...)},
			check: func(t *testing.T, err error) {
				require.ErrorContains(t, err, "reconcile: 1 of 2 not enqueued: booking id 9: new booking task: empty booking uid")
			},
			wantQueued: true, wantLogLine: "level=WARN msg=reconcile found=2 enqueued=1 known=0 failed=1"},
		{name: "shadow mode lists nothing", lister: nil, check: func(t *testing.T, err error) { require.NoError(t, err) },
			wantLogLine: "reconcile skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupReconcile(t)
			err := worker.NewReconciler(tt.lister, b.client, b.log).HandleReconcile(t.Context(), nil)
			tt.check(t, err)
			_, queued := b.queued(t, "first-page")
			require.Equal(t, tt.wantQueued, queued)
			require.Contains(t, b.logs.String(), tt.wantLogLine)
		})
	}
}

func TestNewReconcileTask(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	at := time.Date(2030, 3, 14, 12, 1, 0, 0, time.UTC)
	info, err := b.client.Enqueue(worker.NewReconcileTask(at, 5*time.Minute))
	require.NoError(t, err)
	require.Equal(t, worker.Queue, info.Queue)
	require.Equal(t, worker.TypeReconcile, info.Type)
	require.Equal(t, 3, info.MaxRetry)
	require.Equal(t, 5*time.Minute, info.Retention)
	require.Equal(t, "reconcile:pending:1899720000", info.ID, "named after the interval's start")

	_, err = b.client.Enqueue(worker.NewReconcileTask(at.Add(3*time.Minute+59*time.Second), 5*time.Minute))
	require.ErrorIs(t, err, asynq.ErrTaskIDConflict, "same interval")
	next, err := b.client.Enqueue(worker.NewReconcileTask(at.Add(4*time.Minute), 5*time.Minute))
	require.NoError(t, err, "next interval")
	require.NotEqual(t, info.ID, next.ID)
	for range 2 {
		_, err = b.client.Enqueue(worker.NewReconcileTask(at, 0))
		require.NoError(t, err, "one-off rounds are not deduplicated")
	}
}

// Every worker process runs the schedule; one round per interval is queued.
func TestRunQueuesOneRoundPerInterval(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		rec := worker.NewReconciler(stubLister{}, b.client, b.log)
		wg.Go(func() { errs <- rec.Run(ctx, time.Hour) })
	}
	require.Eventually(t, func() bool {
		return bytes.Count([]byte(b.logs.String()), []byte("reconcile round")) >= 3
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	pending, err := b.inspector.ListPendingTasks(worker.Queue)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, worker.TypeReconcile, pending[0].Type)
	require.Contains(t, b.logs.String(), "reconcile round already queued by another process")

	require.ErrorContains(t, worker.NewReconciler(nil, b.client, nil).Run(t.Context(), 0), "not positive")
}

// End to end through asynq: a booking whose webhook was lost is decided by
// the reconciler, and one whose webhook is being decided is not decided
// twice, whichever task runs first.
func TestReconcilerDecidesLostBookingsOnce(t *testing.T) {
	t.Parallel()
	b := setupReconcile(t)
	ledger, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ledger.Close() })
	for _, email := range []string{"lost@example.com", "hooked@example.com"} {
		_, err := ledger.Grant(t.Context(), email, 5, credits.GrantOptions{})
		require.NoError(t, err)
	}
	lost := b.add("lost", 21, calapi.StatusPending)
	hooked := b.add("hooked", 22, calapi.StatusPending)
	b.webhook(t, hooked)
	_, err = b.client.Enqueue(worker.NewReconcileTask(time.Now(), time.Minute))
	require.NoError(t, err)

	cal := calapi.NewClient(b.fake.URL, reconcileKey, calapi.Options{RetryMax: -1, Timeout: 2 * time.Second})
	var mu sync.Mutex
	var decisions []worker.Decision
	h := worker.New(worker.Config{Ledger: ledger, Cal: cal, DefaultCost: 1, Logger: b.log,
		Observe: func(d worker.Decision) { mu.Lock(); decisions = append(decisions, d); mu.Unlock() }})
	mux := h.Mux()
	mux.HandleFunc(worker.TypeReconcile, worker.NewReconciler(cal, b.client, b.log).HandleReconcile)
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
		Concurrency: 4, Queues: map[string]int{worker.Queue: 1}, RetryDelayFunc: worker.RetryDelay,
		IsFailure: worker.IsFailure, LogLevel: asynq.FatalLevel, TaskCheckInterval: 50 * time.Millisecond,
	})
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)

	require.Eventually(t, func() bool {
		l, _ := b.fake.Booking(lost.UID)
		k, _ := b.fake.Booking(hooked.UID)
		return l.Status == calapi.StatusAccepted && k.Status == calapi.StatusAccepted
	}, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(decisions) == 2 }, 5*time.Second, 10*time.Millisecond)

	require.Len(t, b.fake.CallsTo(http.MethodPost, "/lost/confirm"), 1)
	require.Len(t, b.fake.CallsTo(http.MethodPost, "/hooked/confirm"), 1)
	for _, email := range []string{"lost@example.com", "hooked@example.com"} {
		n, err := ledger.Balance(t.Context(), email)
		require.NoError(t, err)
		require.EqualValues(t, 4, n, email)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range decisions {
		require.Equal(t, worker.OutcomeConfirmed, d.Outcome, d.UID)
	}
}

// lockedBuffer is a log sink safe for concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
