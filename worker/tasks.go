package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
)

// Task types, one per kind of decision. Ingest and the reconciler create
// them with NewBookingTask; Handler.Mux routes them.
const (
	TypeBookingRequested   = "booking:requested"
	TypeBookingCreated     = "booking:created"
	TypeBookingCancelled   = "booking:cancelled"
	TypeBookingRescheduled = "booking:rescheduled"
)

// Queue is the asynq queue every booking task goes to.
const Queue = "bookings"

// Retention keeps a finished task's ID in Redis so that a re-delivered
// webhook (Cal.com re-sends, the reconciler finds the same booking) is
// recognised as a duplicate instead of decided again. The ledger's
// idempotent debit is the backstop beyond it.
const Retention = 72 * time.Hour

// MaxRetry is how many times a failed decision is retried before it is
// dead-lettered. With asynq's default exponential backoff it spans hours.
const MaxRetry = 20

// BookingTask is the payload of every booking task: what the decision needs
// from the webhook, nothing more.
type BookingTask struct {
	Trigger       string     `json:"trigger"`
	UID           string     `json:"uid"`
	BookingID     int64      `json:"bookingId,omitempty"`
	EventTypeID   int64      `json:"eventTypeId,omitempty"`
	Status        string     `json:"status,omitempty"`
	Email         string     `json:"email,omitempty"`
	StartTime     *time.Time `json:"startTime,omitempty"`
	RescheduleUID string     `json:"rescheduleUid,omitempty"`
	CancelledBy   string     `json:"cancelledBy,omitempty"`
	// Source says who enqueued it: "webhook" or "reconciler".
	Source string `json:"source,omitempty"`
	// ReceivedAt is when ingest acknowledged it, for latency metrics.
	ReceivedAt time.Time `json:"receivedAt"`
}

// TaskTypeFor maps a Cal.com trigger to the task type that decides it; ok is
// false for triggers creditgate ignores (PING, meeting events...).
func TaskTypeFor(trigger string) (typ string, ok bool) {
	switch trigger {
	case calapi.TriggerBookingRequested:
		return TypeBookingRequested, true
	case calapi.TriggerBookingCreated:
		return TypeBookingCreated, true
	case calapi.TriggerBookingCancelled, calapi.TriggerBookingRejected:
		return TypeBookingCancelled, true
	case calapi.TriggerBookingRescheduled:
		return TypeBookingRescheduled, true
	}
	return "", false
}

// TaskID is the deduplication key of a booking event: the same trigger for
// the same booking uid is decided once, whoever enqueues it.
func TaskID(trigger, uid string) string {
	return trigger + ":" + uid
}

// TaskFromWebhook turns a decoded webhook into its BookingTask; ok is false
// for triggers that are not decided.
func TaskFromWebhook(w calapi.Webhook, source string, receivedAt time.Time) (BookingTask, bool) {
	if _, ok := TaskTypeFor(w.TriggerEvent); !ok {
		return BookingTask{}, false
	}
	p := w.Payload
	t := BookingTask{
		Trigger:       w.TriggerEvent,
		UID:           p.UID,
		BookingID:     p.BookingID,
		EventTypeID:   p.EventTypeID,
		Status:        p.Status,
		Email:         p.BookerEmail(),
		RescheduleUID: p.RescheduleUID,
		CancelledBy:   p.CancelledBy,
		Source:        source,
		ReceivedAt:    receivedAt,
	}
	if !p.StartTime.IsZero() {
		st := p.StartTime
		t.StartTime = &st
	}
	return t, true
}

// NewBookingTask builds the asynq task for a booking event, with its
// deduplicating TaskID, queue, retention and retry budget.
func NewBookingTask(bt BookingTask) (*asynq.Task, error) {
	typ, ok := TaskTypeFor(bt.Trigger)
	if !ok {
		return nil, fmt.Errorf("new booking task: trigger %q is not decided", bt.Trigger)
	}
	if bt.UID == "" {
		return nil, fmt.Errorf("new booking task: empty booking uid")
	}
	body, err := json.Marshal(bt)
	if err != nil {
		return nil, fmt.Errorf("new booking task: %w", err)
	}
	return asynq.NewTask(typ, body,
		asynq.TaskID(TaskID(bt.Trigger, bt.UID)),
		asynq.Queue(Queue),
		asynq.Retention(Retention),
		asynq.MaxRetry(MaxRetry),
	), nil
}

func parseBookingTask(t *asynq.Task) (BookingTask, error) {
	var bt BookingTask
	if err := json.Unmarshal(t.Payload(), &bt); err != nil {
		return bt, fmt.Errorf("decode %s task: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	if bt.UID == "" {
		return bt, fmt.Errorf("decode %s task: empty uid: %w", t.Type(), asynq.SkipRetry)
	}
	return bt, nil
}
