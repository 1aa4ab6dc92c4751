// Package worker decides Cal.com bookings: for each booking task it reads the
// booking's state at Cal.com, applies DESIGN.md's decision table against the
// credit ledger, and confirms, declines, cancels, refunds or moves credit.
//
// Handlers are safe to run on any number of processes at once and to repeat:
// the ledger debits a booking uid at most once, and every step re-reads the
// state it acts on.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/credits"
)

// Ledger is the part of credits.Store the decisions use.
type Ledger interface {
	Debit(ctx context.Context, d credits.Debit) (credits.DebitResult, error)
	LiveDebit(ctx context.Context, bookingUID string) (credits.Entry, error)
	Refund(ctx context.Context, bookingUID, note string) (credits.Entry, error)
	Forfeit(ctx context.Context, bookingUID, note string) (credits.Entry, error)
	Move(ctx context.Context, oldUID, newUID, note string) (credits.Entry, error)
	Record(ctx context.Context, email string, kind credits.Kind, bookingUID, note string) (credits.Entry, error)
	Price(ctx context.Context, eventTypeID int64) (int64, bool, error)
	SaveBooking(ctx context.Context, b credits.Booking) error
	GetBooking(ctx context.Context, uid string) (credits.Booking, error)
}

// CalAPI is the part of a Cal.com client the decisions use. Errors that are
// *calapi.APIError say whether a retry can help.
type CalAPI interface {
	GetBooking(ctx context.Context, ref calapi.BookingRef) (calapi.Booking, error)
	Confirm(ctx context.Context, ref calapi.BookingRef) error
	Decline(ctx context.Context, ref calapi.BookingRef, reason string) error
	Cancel(ctx context.Context, ref calapi.BookingRef, reason string) error
}

// Config is what a Handler needs.
type Config struct {
	Ledger Ledger
	// Cal is the Cal.com client; nil runs in shadow mode: decide, record
	// and log, call nothing, trusting the webhook's status.
	Cal CalAPI
	// DefaultCost is charged where no price is set for an event type.
	DefaultCost int64
	// LateCancelWindow: a booker's cancellation this close to the start
	// forfeits the credit; 0 always refunds.
	LateCancelWindow time.Duration
	Now              func() time.Time
	Logger           *slog.Logger
	// Observe, if set, is called once per decision (metrics, demo, tests).
	Observe func(Decision)
	// Tasks, if set, lets a decision see a booking's other tasks: a
	// BOOKING_REQUESTED task queued for a booking proves it was pending even
	// before that task has run. *asynq.Inspector implements it.
	Tasks TaskLookup
}

// TaskLookup finds a task by queue and id; *asynq.Inspector implements it.
type TaskLookup interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// Outcome names what a decision did.
type Outcome string

// Decision outcomes.
const (
	OutcomeConfirmed Outcome = "confirmed" // debited (or free) and confirmed
	OutcomeDeclined  Outcome = "declined"  // not enough credit: declined at Cal.com
	OutcomeCancelled Outcome = "cancelled" // accepted without confirmation, short of credit: cancelled
	OutcomeOverride  Outcome = "override"  // the host accepted it by hand
	OutcomeRefunded  Outcome = "refunded"  // a cancellation or rejection gave the credit back
	OutcomeForfeited Outcome = "forfeited" // a late cancellation kept the credit
	OutcomeMoved     Outcome = "moved"     // a reschedule carried the debit over
	OutcomeNothing   Outcome = "nothing"   // nothing to do (echo of our own confirm, not debited...)
)

// Decision is what one task decided, for logs, metrics and the demo.
type Decision struct {
	Trigger string
	UID     string
	Email   string
	Outcome Outcome
	Cost    int64
	Reason  string
	Shadow  bool
	At      time.Time
	// ReceivedAt is when ingest acknowledged the webhook (zero if unknown).
	ReceivedAt time.Time
}

// Handler decides booking tasks.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Handler. Ledger is required.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: cfg.Logger}
}

// Mux routes every booking task type to its handler.
func (h *Handler) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeBookingRequested, h.HandleBookingRequested)
	mux.HandleFunc(TypeBookingCreated, h.HandleBookingCreated)
	mux.HandleFunc(TypeBookingCancelled, h.HandleBookingCancelled)
	mux.HandleFunc(TypeBookingRescheduled, h.HandleBookingRescheduled)
	return mux
}

// HandleBookingRequested decides a booking waiting for confirmation.
func (h *Handler) HandleBookingRequested(ctx context.Context, t *asynq.Task) error {
	bt, err := parseBookingTask(t)
	if err != nil {
		return err
	}
	return h.horizon(ctx, bt, h.requested(ctx, bt))
}

// HandleBookingCreated settles a booking Cal.com reports as created.
func (h *Handler) HandleBookingCreated(ctx context.Context, t *asynq.Task) error {
	bt, err := parseBookingTask(t)
	if err != nil {
		return err
	}
	return h.horizon(ctx, bt, h.created(ctx, bt))
}

// horizon stops retrying a confirm-or-decline once the booking has
// started: the decision can no longer matter, so the task is dead-lettered
// with that reason instead of retrying for hours. (Refunds have no such
// horizon: a cancellation's credit matters whenever it lands.)
func (h *Handler) horizon(ctx context.Context, bt BookingTask, err error) error {
	if err == nil || errors.Is(err, asynq.SkipRetry) || bt.StartTime == nil || h.cfg.Now().Before(*bt.StartTime) {
		return err
	}
	if aerr := h.abandon(ctx, bt, "the booking started before it could be confirmed"); aerr != nil {
		err = fmt.Errorf("%w; %w", err, aerr)
	}
	return fmt.Errorf("%w (booking started at %s, a decision no longer matters: %w)",
		err, bt.StartTime.UTC().Format(time.RFC3339), asynq.SkipRetry)
}

// Abandon is called when a booking task is given up for good (its retries
// spent): a debit it made for a booking Cal.com does not hold as accepted
// can no longer be used, so it is given back. Other task types hold no
// debit of their own.
func (h *Handler) Abandon(ctx context.Context, t *asynq.Task, why string) error {
	if t.Type() != TypeBookingRequested && t.Type() != TypeBookingCreated {
		return nil
	}
	bt, err := parseBookingTask(t)
	if err != nil {
		return nil //nolint:nilerr // a task that does not parse never reached the ledger
	}
	return h.abandon(ctx, bt, why)
}

// abandon refunds the live debit of a booking that is not accepted at
// Cal.com (or whose state cannot be read: a member is not charged for a
// booking we could not confirm).
func (h *Handler) abandon(ctx context.Context, bt BookingTask, why string) error {
	if _, err := h.cfg.Ledger.LiveDebit(ctx, bt.UID); errors.Is(err, credits.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("abandon %s: %w", bt.UID, err)
	}
	if status, err := h.status(ctx, bt); err == nil && status == calapi.StatusAccepted {
		return nil
	}
	if _, err := h.cfg.Ledger.Refund(ctx, bt.UID, why); err != nil && !errors.Is(err, credits.ErrNotFound) {
		return fmt.Errorf("abandon %s: refund: %w", bt.UID, err)
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "debit given back", slog.String("uid", bt.UID), slog.String("reason", why))
	return nil
}

// HandleBookingCancelled refunds or forfeits a cancelled or rejected booking.
func (h *Handler) HandleBookingCancelled(ctx context.Context, t *asynq.Task) error {
	bt, err := parseBookingTask(t)
	if err != nil {
		return err
	}
	return h.cancelled(ctx, bt)
}

// HandleBookingRescheduled moves a debit to the rescheduled booking.
func (h *Handler) HandleBookingRescheduled(ctx context.Context, t *asynq.Task) error {
	bt, err := parseBookingTask(t)
	if err != nil {
		return err
	}
	return h.rescheduled(ctx, bt)
}

// decided logs one line per decision, saves it on the booking record and
// tells the observer.
func (h *Handler) decided(ctx context.Context, bt BookingTask, rec credits.Booking, d Decision) error {
	d.Trigger, d.UID, d.Shadow, d.At, d.ReceivedAt = bt.Trigger, bt.UID, h.cfg.Cal == nil, h.cfg.Now(), bt.ReceivedAt
	if d.Email == "" {
		d.Email = bt.Email
	}
	rec.Decision, rec.Reason = string(d.Outcome), d.Reason
	if err := h.save(ctx, bt, rec); err != nil {
		return err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("uid", d.UID),
		slog.String("trigger", d.Trigger),
		slog.String("outcome", string(d.Outcome)),
		slog.String("email", d.Email),
		slog.Int64("cost", d.Cost),
		slog.String("reason", d.Reason),
		slog.Bool("shadow", d.Shadow),
	)
	if h.cfg.Observe != nil {
		h.cfg.Observe(d)
	}
	return nil
}

// record loads the booking record, or a new one from the task.
func (h *Handler) record(ctx context.Context, bt BookingTask) (credits.Booking, error) {
	rec, err := h.cfg.Ledger.GetBooking(ctx, bt.UID)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		rec = credits.Booking{UID: bt.UID}
	case err != nil:
		return rec, fmt.Errorf("load booking %s: %w", bt.UID, err)
	}
	if rec.Email == "" {
		rec.Email = bt.Email
	}
	if rec.EventTypeID == 0 {
		rec.EventTypeID = bt.EventTypeID
	}
	if rec.StartTime == nil {
		rec.StartTime = bt.StartTime
	}
	return rec, nil
}

func (h *Handler) save(ctx context.Context, bt BookingTask, rec credits.Booking) error {
	rec.UpdatedAt = h.cfg.Now()
	if err := h.cfg.Ledger.SaveBooking(ctx, rec); err != nil {
		return fmt.Errorf("save booking %s: %w", bt.UID, err)
	}
	return nil
}

// cost is the price of an event type, or the default.
func (h *Handler) cost(ctx context.Context, eventTypeID int64) (int64, error) {
	if eventTypeID != 0 {
		c, ok, err := h.cfg.Ledger.Price(ctx, eventTypeID)
		if err != nil {
			return 0, fmt.Errorf("price of event type %d: %w", eventTypeID, err)
		}
		if ok {
			return c, nil
		}
	}
	return h.cfg.DefaultCost, nil
}
