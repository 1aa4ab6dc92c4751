package calapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook triggers creditgate acts on, as Cal.com spells them in
// triggerEvent. Other triggers decode too; callers acknowledge and ignore
// them.
const (
	// TriggerBookingRequested: a booking on a requires-confirmation event
	// type waits for a decision (payload.status PENDING). A booker's
	// reschedule of such a booking arrives as one too, with rescheduleUid.
	TriggerBookingRequested = "BOOKING_REQUESTED"
	// TriggerBookingCreated: a booking is accepted, by creditgate's confirm,
	// by the host, or because its event type skips confirmation.
	TriggerBookingCreated = "BOOKING_CREATED"
	// TriggerBookingCancelled: a booking was cancelled by anyone.
	TriggerBookingCancelled = "BOOKING_CANCELLED"
	// TriggerBookingRejected: a pending booking was declined.
	TriggerBookingRejected = "BOOKING_REJECTED"
	// TriggerBookingRescheduled: an accepted booking moved to a new uid.
	TriggerBookingRescheduled = "BOOKING_RESCHEDULED"
	// TriggerPing: the "test" button in Cal.com's webhook settings. It has
	// no uid.
	TriggerPing = "PING"
)

// ErrNotWebhook is wrapped by every error DecodeWebhook returns.
var ErrNotWebhook = errors.New("not a cal.com webhook")

// Webhook is one delivery from Cal.com.
type Webhook struct {
	// TriggerEvent is the trigger as sent, e.g. TriggerBookingRequested.
	TriggerEvent string
	// CreatedAt is when Cal.com built the body; zero if it was not sent.
	// Cal.com re-sends old bodies, so never reject one for its age.
	CreatedAt time.Time
	// Payload is the booking the webhook is about.
	Payload Payload
	// Warnings name optional fields that could not be read and were left
	// zero (an id or time in a shape Cal.com never sends); worth a log line.
	Warnings []string
}

// Payload is the booking part of a webhook, with the fields creditgate uses.
type Payload struct {
	// UID identifies the booking; API v2 addresses bookings by it. Empty
	// only for PING and triggers creditgate does not act on.
	UID string
	// BookingID is the numeric id API v1 needs; 0 if not sent.
	BookingID int64
	// EventTypeID is the Cal.com event type; creditgate prices by it.
	EventTypeID int64
	// Status is the booking status as sent: PENDING, ACCEPTED, CANCELLED,
	// REJECTED... NormalizeStatus maps it onto the Status constants.
	Status string
	// Title is the booking's title, for logs and the demo.
	Title string
	// StartTime and EndTime bound the meeting, in UTC.
	StartTime, EndTime time.Time
	// Attendees are the booker first, then any guests.
	Attendees []Person
	// Organizer is the host.
	Organizer Person
	// Responses are the booking form's answers by field name ("email",
	// "name", ...); nil if none were sent.
	Responses map[string]Response
	// RescheduleUID names the booking this one replaces, if any.
	RescheduleUID string
	// CancelledBy is the email of whoever cancelled, when Cal.com says.
	CancelledBy string
	// CancellationReason and RejectionReason are the free text given.
	CancellationReason, RejectionReason string
}

// Person is an attendee or organiser.
type Person struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	TimeZone string `json:"timeZone"`
}

// Response is one answer on the booking form.
type Response struct {
	// Label is the form field's label key, e.g. "email_address".
	Label string
	// Value is the answer as sent: a string for most fields, an object for
	// names split in two, an array for guests.
	Value json.RawMessage
}

// Text returns the answer when it is a JSON string, trimmed, else "".
func (r Response) Text() string {
	var s string
	if err := json.Unmarshal(r.Value, &s); err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// BookerEmail is the email of whoever booked: the form's email answer,
// else the first attendee's email, trimmed. It is "" when neither was sent.
func (p Payload) BookerEmail() string {
	if email := p.Responses["email"].Text(); email != "" {
		return email
	}
	if len(p.Attendees) > 0 {
		return strings.TrimSpace(p.Attendees[0].Email)
	}
	return ""
}

// needsUID reports whether creditgate acts on trigger, and so needs its uid.
// Other triggers (PING, OOO_CREATED, FORM_SUBMITTED...) may lack one and are
// still Cal.com webhooks that the caller acknowledges and ignores.
func needsUID(trigger string) bool {
	switch trigger {
	case TriggerBookingRequested, TriggerBookingCreated, TriggerBookingCancelled,
		TriggerBookingRejected, TriggerBookingRescheduled:
		return true
	}
	return false
}

type wireWebhook struct {
	TriggerEvent string          `json:"triggerEvent"`
	CreatedAt    json.RawMessage `json:"createdAt"`
	Payload      *wirePayload    `json:"payload"`
}

type wirePayload struct {
	UID                string          `json:"uid"`
	BookingID          json.RawMessage `json:"bookingId"`
	EventTypeID        json.RawMessage `json:"eventTypeId"`
	Status             string          `json:"status"`
	Title              string          `json:"title"`
	StartTime          json.RawMessage `json:"startTime"`
	EndTime            json.RawMessage `json:"endTime"`
	Attendees          []Person        `json:"attendees"`
	Organizer          *Person         `json:"organizer"`
	Responses          json.RawMessage `json:"responses"`
	RescheduleUID      string          `json:"rescheduleUid"`
	CancelledBy        string          `json:"cancelledBy"`
	CancellationReason string          `json:"cancellationReason"`
	RejectionReason    string          `json:"rejectionReason"`
}

// DecodeWebhook decodes a Cal.com webhook body: a JSON object with a
// non-empty triggerEvent and, for the booking triggers, a payload.uid.
// Unknown fields are ignored. Ids may be numbers, numeric strings or null;
// times may be RFC 3339, zone-less (UTC) or unix milliseconds. Every error
// wraps ErrNotWebhook and says what is wrong.
func DecodeWebhook(body []byte) (Webhook, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Webhook{}, fmt.Errorf("%w: body is not a JSON object", ErrNotWebhook)
	}
	var w wireWebhook
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return Webhook{}, fmt.Errorf("%w: %s", ErrNotWebhook, describeJSONError(err))
	}
	out, err := w.decode()
	if err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrNotWebhook, err)
	}
	return out, nil
}

func (w wireWebhook) decode() (Webhook, error) {
	out := Webhook{TriggerEvent: strings.TrimSpace(w.TriggerEvent)}
	if out.TriggerEvent == "" {
		return Webhook{}, errors.New("missing triggerEvent")
	}
	var err error
	if out.CreatedAt, err = parseTime("createdAt", w.CreatedAt); err != nil {
		out.Warnings = append(out.Warnings, err.Error())
	}
	if w.Payload != nil {
		out.Payload, out.Warnings = w.Payload.decode(out.Warnings)
	}
	if needsUID(out.TriggerEvent) && out.Payload.UID == "" {
		return Webhook{}, errors.New("missing payload.uid")
	}
	return out, nil
}

// decode reads the payload. An optional field it cannot read (an id, a
// time) is left zero and noted in warnings rather than failing the
// webhook: Cal.com does not send it again, and the worker reads the
// booking from Cal.com anyway.
func (w wirePayload) decode(warnings []string) (Payload, []string) {
	p := Payload{
		UID:                strings.TrimSpace(w.UID),
		Status:             w.Status,
		Title:              w.Title,
		Attendees:          w.Attendees,
		Responses:          decodeResponses(w.Responses),
		RescheduleUID:      strings.TrimSpace(w.RescheduleUID),
		CancelledBy:        strings.TrimSpace(w.CancelledBy),
		CancellationReason: w.CancellationReason,
		RejectionReason:    w.RejectionReason,
	}
	if w.Organizer != nil {
		p.Organizer = *w.Organizer
	}
	note := func(err error) {
		if err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	var err error
	p.BookingID, err = parseID("payload.bookingId", w.BookingID)
	note(err)
	p.EventTypeID, err = parseID("payload.eventTypeId", w.EventTypeID)
	note(err)
	p.StartTime, err = parseTime("payload.startTime", w.StartTime)
	note(err)
	p.EndTime, err = parseTime("payload.endTime", w.EndTime)
	note(err)
	return p, warnings
}

// decodeResponses reads payload.responses, {"email": {"label": ...,
// "value": ...}, ...}. The form's answers are optional for creditgate
// (attendees carry the email too), so a shape it does not expect is
// skipped rather than failing the webhook: an entry that is not an object is
// kept as a bare value.
func decodeResponses(raw json.RawMessage) map[string]Response {
	var entries map[string]json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &entries) != nil || len(entries) == 0 {
		return nil
	}
	out := make(map[string]Response, len(entries))
	for name, entry := range entries {
		var r struct {
			Label any             `json:"label"`
			Value json.RawMessage `json:"value"`
		}
		if bytes.HasPrefix(bytes.TrimSpace(entry), []byte("{")) && json.Unmarshal(entry, &r) == nil {
			label, _ := r.Label.(string)
			out[name] = Response{Label: label, Value: r.Value}
			continue
		}
		out[name] = Response{Value: entry}
	}
	return out
}

// describeJSONError turns encoding/json's errors, which name Go types, into
// ones that name the JSON field.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("%s: want %s, got JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, err)
	}
	return fmt.Sprintf("invalid JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}
