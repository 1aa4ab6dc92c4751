package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/credits"
)

// requested decides a booking that asked for confirmation.
func (h *Handler) requested(ctx context.Context, bt BookingTask) error {
	b, err := h.booking(ctx, bt)
	if err != nil {
		return err
	}
	bt = enrich(bt, b)
	status := b.Status
	rec, err := h.record(ctx, bt)
	if err != nil {
		return err
	}
	switch status {
	case calapi.StatusAccepted:
		// A BOOKING_REQUESTED proves it was pending: whoever accepted it
		// before us was the host.
		rec.SeenPending = true
		return h.accepted(ctx, bt, rec)
	case calapi.StatusRejected, calapi.StatusCancelled:
		return h.refundIfDebited(ctx, bt, rec, "booking "+status+" at Cal.com before it was decided")
	case calapi.StatusPending:
	default:
		return fmt.Errorf("decide %s: unknown status %q at Cal.com", bt.UID, status)
	}
	rec.SeenPending = true
	if err := h.save(ctx, bt, rec); err != nil {
		return err
	}

	if moved, err := h.carryOver(ctx, bt); err != nil {
		return err
	} else if moved {
		if err := h.confirm(ctx, bt, rec); err != nil {
			return settled(err)
		}
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeConfirmed, Reason: carriedOver(bt)})
	}

	cost, err := h.cost(ctx, bt.EventTypeID)
	if err != nil {
		return err
	}
	rec.Cost = cost
	if cost == 0 {
		if err := h.confirm(ctx, bt, rec); err != nil {
			return settled(err)
		}
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeConfirmed, Reason: "free event type"})
	}
	if bt.Email == "" {
		reason := fmt.Sprintf("We could not tell who made this booking, so we could not use any credit; "+
			"this session costs %s.", plural(cost))
		return h.decline(ctx, bt, rec, cost, reason)
	}

	res, err := h.cfg.Ledger.Debit(ctx, credits.Debit{Email: bt.Email, BookingUID: bt.UID, Amount: cost,
		Note: fmt.Sprintf("booking %s (event type %d)", bt.UID, bt.EventTypeID)})
	var short *credits.InsufficientError
	switch {
	case errors.As(err, &short):
		return h.decline(ctx, bt, rec, cost, shortReason(short.Balance, cost))
	case err != nil:
		return fmt.Errorf("debit %s: %w", bt.UID, err)
	}
	if err := h.confirm(ctx, bt, rec); err != nil {
		return settled(err)
	}
	reason := fmt.Sprintf("debited %s, balance now %d", plural(cost), res.Balance)
	if res.Already {
		reason = fmt.Sprintf("already debited %s", plural(cost))
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeConfirmed, Cost: cost, Reason: reason})
}

// created settles a BOOKING_CREATED.
func (h *Handler) created(ctx context.Context, bt BookingTask) error {
	if strings.EqualFold(bt.Status, "PENDING") {
		return h.requested(ctx, bt)
	}
	b, err := h.booking(ctx, bt)
	if err != nil {
		return err
	}
	bt = enrich(bt, b)
	rec, err := h.record(ctx, bt)
	if err != nil {
		return err
	}
	switch status := b.Status; status {
	case calapi.StatusPending:
		return h.requested(ctx, bt)
	case calapi.StatusAccepted:
		return h.accepted(ctx, bt, rec)
	default:
		return h.refundIfDebited(ctx, bt, rec, "booking "+status+" at Cal.com")
	}
}

// accepted settles a booking Cal.com holds as accepted: our own confirm's
// echo, a host's manual confirm (never cancelled), or an event type that
// skips confirmation (debited, or cancelled when short of credit).
func (h *Handler) accepted(ctx context.Context, bt BookingTask, rec credits.Booking) error {
	if !rec.SeenPending {
		queued, err := h.requestQueued(bt.UID)
		if err != nil {
			return err
		}
		rec.SeenPending = queued
	}
	if _, err := h.cfg.Ledger.LiveDebit(ctx, bt.UID); err == nil {
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing, Reason: "accepted and already debited"})
	} else if !errors.Is(err, credits.ErrNotFound) {
		return fmt.Errorf("live debit %s: %w", bt.UID, err)
	}
	if moved, err := h.carryOver(ctx, bt); err != nil {
		return err
	} else if moved {
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeMoved, Reason: carriedOver(bt)})
	}
	cost, err := h.cost(ctx, bt.EventTypeID)
	if err != nil {
		return err
	}
	rec.Cost = cost
	if cost == 0 {
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing, Reason: "free event type"})
	}
	email := bt.Email
	if email == "" {
		email = rec.Email
	}

	var res credits.DebitResult
	var short *credits.InsufficientError
	if email == "" {
		short = &credits.InsufficientError{Cost: cost}
	} else {
		res, err = h.cfg.Ledger.Debit(ctx, credits.Debit{Email: email, BookingUID: bt.UID, Amount: cost,
			Note: fmt.Sprintf("booking %s accepted (event type %d)", bt.UID, bt.EventTypeID)})
		if err != nil && !errors.As(err, &short) {
			return fmt.Errorf("debit %s: %w", bt.UID, err)
		}
	}
	switch {
	case short == nil && rec.SeenPending:
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeOverride, Cost: cost,
			Reason: fmt.Sprintf("confirmed by the host; debited %s, balance now %d", plural(cost), res.Balance)})
	case short == nil:
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeConfirmed, Cost: cost,
			Reason: fmt.Sprintf("debited %s, balance now %d", plural(cost), res.Balance)})
	case rec.SeenPending:
		note := fmt.Sprintf("admitted by host without credit (balance %d, cost %d)", short.Balance, cost)
		if email != "" {
			if _, err := h.cfg.Ledger.Record(ctx, email, credits.KindOverride, bt.UID, note); err != nil {
				return fmt.Errorf("record override %s: %w", bt.UID, err)
			}
		}
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeOverride, Cost: cost, Reason: note})
	default:
		return h.cancel(ctx, bt, rec, cost, shortReason(short.Balance, cost))
	}
}

// requestQueued reports whether a BOOKING_REQUESTED task exists for uid: the
// host may confirm a booking by hand before its request is decided (its
// task retrying, say), and then the BOOKING_CREATED that follows must be
// taken as the host's override, never cancelled. A lookup that fails is an
// error to retry: guessing "no" could cancel what the host accepted.
func (h *Handler) requestQueued(uid string) (bool, error) {
	if h.cfg.Tasks == nil {
		return false, nil
	}
	_, err := h.cfg.Tasks.GetTaskInfo(Queue, TaskID(calapi.TriggerBookingRequested, uid))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, nil
	}
	return false, fmt.Errorf("look up request of %s: %w", uid, err)
}

// booking is the booking as Cal.com holds it; in shadow mode, as the
// webhook told it.
func (h *Handler) booking(ctx context.Context, bt BookingTask) (calapi.Booking, error) {
	if h.cfg.Cal == nil {
		return calapi.Booking{UID: bt.UID, ID: bt.BookingID, Status: normalStatus(bt.Status)}, nil
	}
	b, err := h.cfg.Cal.GetBooking(ctx, ref(bt))
	if err != nil {
		return b, callError("get booking "+bt.UID, err)
	}
	return b, nil
}

// status is the booking's state at Cal.com; in shadow mode, the webhook's.
func (h *Handler) status(ctx context.Context, bt BookingTask) (string, error) {
	b, err := h.booking(ctx, bt)
	return b.Status, err
}

// enrich fills what the task lacks from the booking Cal.com holds: a task
// from the reconciler, or a webhook with fields missing or unreadable.
func enrich(bt BookingTask, b calapi.Booking) BookingTask {
	if bt.RescheduleUID == "" {
		bt.RescheduleUID = b.RescheduledFromUID
	}
	if bt.EventTypeID == 0 {
		bt.EventTypeID = b.EventTypeID
	}
	if bt.Email == "" {
		bt.Email = b.AttendeeEmail
	}
	if bt.BookingID == 0 {
		bt.BookingID = b.ID
	}
	if bt.StartTime == nil && !b.Start.IsZero() {
		st := b.Start
		bt.StartTime = &st
	}
	return bt
}

func ref(bt BookingTask) calapi.BookingRef {
	return calapi.BookingRef{UID: bt.UID, ID: bt.BookingID}
}

// normalStatus maps a webhook's status to calapi's; a webhook without one
// is taken as pending (BOOKING_REQUESTED's meaning).
func normalStatus(s string) string {
	switch strings.ToUpper(s) {
	case "ACCEPTED":
		return calapi.StatusAccepted
	case "REJECTED":
		return calapi.StatusRejected
	case "CANCELLED":
		return calapi.StatusCancelled
	}
	return calapi.StatusPending
}

func shortReason(balance, cost int64) string {
	return fmt.Sprintf("Not enough credit: your balance is %s and this session costs %s. "+
		"Please top up your credit and book again.", plural(balance), plural(cost))
}

func plural(n int64) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d credit", n)
	}
	return fmt.Sprintf("%d credits", n)
}
