package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/credits"
)

// errSettled says a call found the booking already settled by someone else
// and the decision was recorded: the task is done.
var errSettled = errors.New("settled")

func settled(err error) error {
	if errors.Is(err, errSettled) {
		return nil
	}
	return err
}

// notPending reports Cal.com's answer to confirming or declining a booking
// that is no longer pending.
func notPending(err error) bool {
	var apiErr *calapi.APIError
	return errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadRequest || apiErr.Status == http.StatusConflict)
}

// confirm accepts the booking at Cal.com. When Cal.com says it is no longer
// pending, the booking's state is read again and settled: accepted by
// someone else stands; rejected or cancelled gives the debit back. A
// permanent refusal gives the debit back too, since it can no longer be used.
func (h *Handler) confirm(ctx context.Context, bt BookingTask, rec credits.Booking) error {
	if h.cfg.Cal == nil {
		return nil
	}
	err := h.cfg.Cal.Confirm(ctx, ref(bt))
	if err == nil {
		return nil
	}
	if notPending(err) {
		status, serr := h.status(ctx, bt)
		if serr != nil {
			return serr
		}
		switch status {
		case calapi.StatusAccepted:
			return nil
		case calapi.StatusRejected, calapi.StatusCancelled:
			if err := h.refundIfDebited(ctx, bt, rec, "booking "+status+" at Cal.com before it was confirmed"); err != nil {
				return err
			}
			return errSettled
		}
	}
	err = callError("confirm "+bt.UID, err)
	if permanent(err) {
		if _, rerr := h.cfg.Ledger.Refund(ctx, bt.UID, "Cal.com refused the confirm"); rerr != nil &&
			!errors.Is(rerr, credits.ErrNotFound) {
			return fmt.Errorf("refund %s after failed confirm: %w", bt.UID, rerr)
		}
	}
	return err
}

// decline refuses the booking at Cal.com with a reason the booker reads.
func (h *Handler) decline(ctx context.Context, bt BookingTask, rec credits.Booking, cost int64, reason string) error {
	if h.cfg.Cal != nil {
		if err := h.cfg.Cal.Decline(ctx, ref(bt), reason); err != nil {
			return h.refused(ctx, bt, rec, "decline", err)
		}
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeDeclined, Cost: cost, Reason: reason})
}

// cancel cancels an accepted booking that was short of credit.
func (h *Handler) cancel(ctx context.Context, bt BookingTask, rec credits.Booking, cost int64, reason string) error {
	if h.cfg.Cal != nil {
		if err := h.cfg.Cal.Cancel(ctx, ref(bt), reason); err != nil {
			return h.refused(ctx, bt, rec, "cancel", err)
		}
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeCancelled, Cost: cost, Reason: reason})
}

// refused handles a failed decline or cancel: when the booking moved on
// meanwhile, settle by its new state (never refuse what the host accepted).
func (h *Handler) refused(ctx context.Context, bt BookingTask, rec credits.Booking, op string, err error) error {
	if !notPending(err) {
		return callError(op+" "+bt.UID, err)
	}
	status, serr := h.status(ctx, bt)
	if serr != nil {
		return serr
	}
	switch status {
	case calapi.StatusAccepted:
		if op == "decline" {
			rec.SeenPending = true
			return h.accepted(ctx, bt, rec)
		}
		return callError(op+" "+bt.UID, err)
	case calapi.StatusRejected, calapi.StatusCancelled:
		return h.refundIfDebited(ctx, bt, rec, "booking "+status+" at Cal.com")
	}
	return callError(op+" "+bt.UID, err)
}

// refundIfDebited gives back a live debit, if any.
func (h *Handler) refundIfDebited(ctx context.Context, bt BookingTask, rec credits.Booking, note string) error {
	e, err := h.cfg.Ledger.Refund(ctx, bt.UID, note)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing, Reason: note + "; nothing was debited"})
	case err != nil:
		return fmt.Errorf("refund %s: %w", bt.UID, err)
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeRefunded, Email: e.Email, Cost: e.Amount,
		Reason: note + "; refunded " + plural(e.Amount)})
}

// cancelled settles BOOKING_CANCELLED and BOOKING_REJECTED: refund, unless
// the booker cancelled inside the late-cancel window.
func (h *Handler) cancelled(ctx context.Context, bt BookingTask) error {
	rec, err := h.record(ctx, bt)
	if err != nil {
		return err
	}
	if bt.Trigger == calapi.TriggerBookingRejected {
		return h.refundIfDebited(ctx, bt, rec, "rejected by the host")
	}
	if !h.byBooker(bt, rec) {
		return h.refundIfDebited(ctx, bt, rec, "cancelled by the host")
	}
	if !h.late(rec, bt) {
		return h.refundIfDebited(ctx, bt, rec, "cancelled by the booker in time")
	}
	note := fmt.Sprintf("cancelled by the booker less than %s before the start: credit kept", h.cfg.LateCancelWindow)
	e, err := h.cfg.Ledger.Forfeit(ctx, bt.UID, note)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing, Reason: "late cancellation; nothing was debited"})
	case err != nil:
		return fmt.Errorf("forfeit %s: %w", bt.UID, err)
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeForfeited, Email: e.Email, Reason: note})
}

// byBooker: the cancellation is the booker's when cancelledBy is the
// booker's email; anything else is the host's.
func (h *Handler) byBooker(bt BookingTask, rec credits.Booking) bool {
	by := credits.NormalizeEmail(bt.CancelledBy)
	if by == "" {
		return false
	}
	return by == credits.NormalizeEmail(bt.Email) || by == credits.NormalizeEmail(rec.Email)
}

// late reports a cancellation inside the late-cancel window, judged at the
// moment it reached creditgate, not when its task runs: a retry or a
// replay hours later must not turn a timely cancellation into a late one.
func (h *Handler) late(rec credits.Booking, bt BookingTask) bool {
	if h.cfg.LateCancelWindow <= 0 || rec.StartTime == nil {
		return false
	}
	at := bt.ReceivedAt
	if at.IsZero() {
		at = h.cfg.Now()
	}
	return rec.StartTime.Sub(at) < h.cfg.LateCancelWindow
}

// rescheduled moves the old booking's debit to the new uid.
func (h *Handler) rescheduled(ctx context.Context, bt BookingTask) error {
	rec, err := h.record(ctx, bt)
	if err != nil {
		return err
	}
	if bt.RescheduleUID == "" {
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing, Reason: "reschedule names no earlier booking"})
	}
	moved, err := h.carryOver(ctx, bt)
	if err != nil {
		return err
	}
	if !moved {
		return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeNothing,
			Reason: "earlier booking " + bt.RescheduleUID + " was not debited"})
	}
	return h.decided(ctx, bt, rec, Decision{Outcome: OutcomeMoved, Reason: carriedOver(bt)})
}

func carriedOver(bt BookingTask) string {
	return "rescheduled from " + bt.RescheduleUID + ": debit carried over"
}

// carryOver moves the live debit of the booking bt reschedules to bt's
// uid; false when bt reschedules nothing or that booking had no debit.
func (h *Handler) carryOver(ctx context.Context, bt BookingTask) (bool, error) {
	if bt.RescheduleUID == "" {
		return false, nil
	}
	oldUID, newUID := bt.RescheduleUID, bt.UID
	_, err := h.cfg.Ledger.Move(ctx, oldUID, newUID, "rescheduled from "+oldUID+" to "+newUID)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("move debit %s to %s: %w", oldUID, newUID, err)
	}
	return true, nil
}
