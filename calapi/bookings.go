package calapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Booking statuses, normalised: the API and the webhooks spell them
// differently (pending, PENDING, unconfirmed...).
const (
	StatusPending   = "pending"
	StatusAccepted  = "accepted"
	StatusRejected  = "rejected"
	StatusCancelled = "cancelled"
)

// NormalizeStatus maps a status as Cal.com sends it (webhook PENDING,
// API pending, list filter unconfirmed, American canceled) onto the Status
// constants. Anything else comes back lower-cased.
func NormalizeStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "unconfirmed":
		return StatusPending
	case "canceled":
		return StatusCancelled
	}
	return s
}

// BookingRef names a booking. API v2 addresses bookings by UID, API v1 by
// ID; a webhook carries both, so callers fill both when they can.
type BookingRef struct {
	UID string // API v2
	ID  int64  // API v1
}

// String is the ref for logs: the uid, else the id.
func (r BookingRef) String() string {
	if r.UID != "" {
		return r.UID
	}
	return fmt.Sprintf("id %d", r.ID)
}

// Booking is a booking as the API reports it.
type Booking struct {
	// UID and ID are the booking's two identifiers (v2 and v1).
	UID string
	ID  int64
	// Status is normalised: one of the Status constants, or another
	// lower-case status Cal.com may add.
	Status string
	// EventTypeID is the event type booked.
	EventTypeID int64
	// Start and End bound the meeting, in UTC.
	Start, End time.Time
	// AttendeeEmail is the first attendee's, the booker's, email.
	AttendeeEmail string
	// CancellationReason is the reason given for a cancellation, when the
	// API reports one.
	CancellationReason string
	// RejectionReason is the reason given for a decline. API v2 does not
	// report it; calapitest.Server records it.
	RejectionReason string
	// RescheduledFromUID names the booking this one reschedules, when it
	// does (v2 rescheduledFromUid, v1 fromReschedule).
	RescheduledFromUID string
}

// ErrNoUID is returned, wrapped, when API v2 is asked about a BookingRef
// without a UID.
var ErrNoUID = errors.New("booking ref has no uid")

// GetBooking fetches a booking.
func (c *Client) GetBooking(ctx context.Context, ref BookingRef) (Booking, error) {
	path, err := v2Path(ref, "")
	if err != nil {
		return Booking{}, fmt.Errorf("get booking: %w", err)
	}
	data, err := c.do(ctx, c.v2Call(http.MethodGet, path, nil))
	if err != nil {
		return Booking{}, fmt.Errorf("get booking: %w", err)
	}
	b, err := decodeV2Booking(data, ref.UID)
	if err != nil {
		return Booking{}, fmt.Errorf("get booking %s: %w", ref.UID, err)
	}
	return b, nil
}

// Confirm accepts a pending booking. Cal.com answers 400 when the booking
// is no longer pending.
func (c *Client) Confirm(ctx context.Context, ref BookingRef) error {
	return c.v2Action(ctx, "confirm booking", ref, "/confirm", nil)
}

// Decline rejects a pending booking; the booker sees reason. Cal.com
// answers 400 when the booking is no longer pending.
func (c *Client) Decline(ctx context.Context, ref BookingRef, reason string) error {
	return c.v2Action(ctx, "decline booking", ref, "/decline", map[string]string{"reason": reason})
}

// Cancel cancels a booking; the booker sees reason.
func (c *Client) Cancel(ctx context.Context, ref BookingRef, reason string) error {
	return c.v2Action(ctx, "cancel booking", ref, "/cancel", map[string]string{"cancellationReason": reason})
}

func (c *Client) v2Action(ctx context.Context, op string, ref BookingRef, action string, body any) error {
	path, err := v2Path(ref, action)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := c.do(ctx, c.v2Call(http.MethodPost, path, body)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// v2Path is /v2/bookings/{uid}{action} with the uid escaped.
func v2Path(ref BookingRef, action string) (string, error) {
	uid := strings.TrimSpace(ref.UID)
	if uid == "" {
		return "", ErrNoUID
	}
	return "/v2/bookings/" + url.PathEscape(uid) + action, nil
}

func (c *Client) v2Call(method, path string, body any) call {
	return call{
		method: method,
		path:   path,
		header: http.Header{
			"Authorization":   {"Bearer " + c.apiKey},
			"Cal-Api-Version": {apiVersionV2},
		},
		body: body,
	}
}

// v2Booking is the part of API v2's booking output that creditgate reads.
type v2Booking struct {
	ID          json.RawMessage `json:"id"`
	UID         string          `json:"uid"`
	Status      string          `json:"status"`
	EventTypeID json.RawMessage `json:"eventTypeId"`
	EventType   *struct {
		ID json.RawMessage `json:"id"`
	} `json:"eventType"`
	Start     json.RawMessage `json:"start"`
	End       json.RawMessage `json:"end"`
	Attendees []struct {
		Email string `json:"email"`
	} `json:"attendees"`
	Responses          map[string]any `json:"bookingFieldsResponses"`
	CancellationReason string         `json:"cancellationReason"`
	RejectionReason    string         `json:"rejectionReason"`
	RescheduledFromUID string         `json:"rescheduledFromUid"`
}

// decodeV2Booking reads {"status":"success","data":{...}}. For the uid of
// a recurring series data is an array; the recurrence with uid is kept.
func decodeV2Booking(body []byte, uid string) (Booking, error) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	data := bytes.TrimSpace(env.Data)
	if isNull(data) {
		return Booking{}, errors.New("decode response: no data")
	}
	var wire v2Booking
	if data[0] == '[' {
		var list []v2Booking
		if err := json.Unmarshal(data, &list); err != nil {
			return Booking{}, fmt.Errorf("decode response: %w", err)
		}
		i := indexUID(list, uid)
		if i < 0 {
			return Booking{}, fmt.Errorf("decode response: no booking with uid %s among %d", uid, len(list))
		}
		wire = list[i]
	} else if err := json.Unmarshal(data, &wire); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	return wire.booking()
}

func indexUID(list []v2Booking, uid string) int {
	for i, b := range list {
		if b.UID == uid {
			return i
		}
	}
	return -1
}

func (w v2Booking) booking() (Booking, error) {
	b := Booking{
		UID:                w.UID,
		Status:             NormalizeStatus(w.Status),
		CancellationReason: w.CancellationReason,
		RejectionReason:    w.RejectionReason,
		RescheduledFromUID: strings.TrimSpace(w.RescheduledFromUID),
	}
	var err error
	if b.ID, err = parseID("data.id", w.ID); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	eventTypeID := w.EventTypeID
	if isNull(eventTypeID) && w.EventType != nil { // eventTypeId is deprecated
		eventTypeID = w.EventType.ID
	}
	if b.EventTypeID, err = parseID("data.eventTypeId", eventTypeID); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if b.Start, err = parseTime("data.start", w.Start); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if b.End, err = parseTime("data.end", w.End); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if len(w.Attendees) > 0 {
		b.AttendeeEmail = strings.TrimSpace(w.Attendees[0].Email)
	}
	if email, ok := w.Responses["email"].(string); ok && b.AttendeeEmail == "" {
		b.AttendeeEmail = strings.TrimSpace(email)
	}
	return b, nil
}
