package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
)

// TypeReconcile is the periodic task that finds bookings still pending at
// Cal.com and queues the decision a lost webhook would have queued.
const TypeReconcile = "reconcile:pending"

// reconcileMaxRetry is small: the next interval's round lists everything
// again anyway.
const reconcileMaxRetry = 3

// Lister lists the bookings Cal.com holds as pending; calapi.Client and
// calapi.V1Client implement it. On an error it may return the bookings it
// listed before the error, which are enqueued all the same.
type Lister interface {
	ListPending(ctx context.Context) ([]calapi.Booking, error)
}

// Enqueuer queues tasks durably; *asynq.Client implements it. A task whose
// TaskID is taken fails with asynq.ErrTaskIDConflict.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Reconciler enqueues, for every booking pending at Cal.com, the
// BOOKING_REQUESTED task its webhook would have enqueued, under the same
// TaskID: a booking whose webhook arrived is not decided twice, and one
// whose webhook was lost is decided all the same.
type Reconciler struct {
	list Lister
	q    Enqueuer
	log  *slog.Logger
	now  func() time.Time
}

// NewReconciler returns a Reconciler listing with l and enqueueing on q.
// A nil log discards.
func NewReconciler(l Lister, q Enqueuer, log *slog.Logger) *Reconciler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{list: l, q: q, log: log, now: time.Now}
}

// NewReconcileTask is the reconcile round of the interval that holds at.
// Its TaskID names that interval, and stays taken for one more interval
// after the round ends, so that any number of processes may enqueue it and
// one round runs per interval. interval <= 0 gives a one-off round, unique
// only by asynq's own ID.
func NewReconcileTask(at time.Time, interval time.Duration) *asynq.Task {
	opts := []asynq.Option{asynq.Queue(Queue), asynq.MaxRetry(reconcileMaxRetry)}
	if interval > 0 {
		bucket := at.Truncate(interval)
		opts = append(opts,
			asynq.TaskID(TypeReconcile+":"+strconv.FormatInt(bucket.Unix(), 10)),
			asynq.Retention(interval),
			asynq.Timeout(max(interval, time.Minute)))
	}
	return asynq.NewTask(TypeReconcile, nil, opts...)
}

// Run enqueues a reconcile round at once and then every interval, until
// ctx ends. Every worker process may run it: the rounds' TaskIDs make one
// round per interval whichever process enqueues it.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("reconcile: interval %s is not positive", interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.enqueueRound(ctx, interval)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (r *Reconciler) enqueueRound(ctx context.Context, interval time.Duration) {
	_, err := r.q.EnqueueContext(ctx, NewReconcileTask(r.now(), interval))
	switch {
	case err == nil:
		r.log.LogAttrs(ctx, slog.LevelDebug, "reconcile round queued")
	case errors.Is(err, asynq.ErrTaskIDConflict):
		r.log.LogAttrs(ctx, slog.LevelDebug, "reconcile round already queued by another process")
	case ctx.Err() == nil:
		r.log.LogAttrs(ctx, slog.LevelWarn, "reconcile round not queued", slog.String("err", err.Error()))
	}
}

// HandleReconcile lists the bookings pending at Cal.com and enqueues a
// BOOKING_REQUESTED task for each. A task already known by its TaskID (the
// webhook's, or an earlier round's) is counted, not an error. A failed
// listing is an error to retry, after enqueueing whatever was listed; a
// permanent one (a refused key) skips the retries.
func (r *Reconciler) HandleReconcile(ctx context.Context, _ *asynq.Task) error {
	if r.list == nil {
		r.log.LogAttrs(ctx, slog.LevelInfo, "reconcile skipped: no Cal.com client (shadow mode)")
		return nil
	}
	start := r.now()
	bookings, listErr := r.list.ListPending(ctx)
	var enqueued, known, failed int
	var enqueueErr error
	for _, b := range bookings {
		err := r.enqueue(ctx, b, start)
		switch {
		case err == nil:
			enqueued++
		case errors.Is(err, asynq.ErrTaskIDConflict):
			known++
		default:
			failed++
			enqueueErr = cmp.Or(enqueueErr, err)
		}
	}
	level := slog.LevelInfo
	if listErr != nil || failed > 0 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Int("found", len(bookings)), slog.Int("enqueued", enqueued), slog.Int("known", known),
		slog.Int("failed", failed), slog.Duration("took", r.now().Sub(start)),
	}
	if err := errors.Join(listErr, enqueueErr); err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	r.log.LogAttrs(ctx, level, "reconcile", attrs...)
	if listErr != nil {
		return callError("reconcile", listErr)
	}
	if enqueueErr != nil {
		return fmt.Errorf("reconcile: %d of %d not enqueued: %w", failed, len(bookings), enqueueErr)
	}
	return nil
}

// enqueue queues the decision for one pending booking.
func (r *Reconciler) enqueue(ctx context.Context, b calapi.Booking, at time.Time) error {
	bt := BookingTask{
		Trigger:     calapi.TriggerBookingRequested,
		UID:         b.UID,
		BookingID:   b.ID,
		EventTypeID: b.EventTypeID,
		Status:      "PENDING",
		Email:       b.AttendeeEmail,
		// A reschedule carries its debit over whichever finds it first,
		// the webhook or the reconciler.
		RescheduleUID: b.RescheduledFromUID,
		Source:        "reconciler",
		ReceivedAt:    at,
	}
	if !b.Start.IsZero() {
		st := b.Start
		bt.StartTime = &st
	}
	task, err := NewBookingTask(bt)
	if err != nil {
		return fmt.Errorf("booking id %d: %w", b.ID, err)
	}
	if _, err := r.q.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("enqueue %s: %w", b.UID, err)
	}
	return nil
}
