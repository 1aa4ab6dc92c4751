package calapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// V1Client calls the legacy Cal.com API v1 that some self-hosted instances
// still run. It has Client's methods and guarantees: v1 addresses bookings
// by numeric id (BookingRef.ID) and takes the key in the query string,
// which never reaches an error or a log line. It is safe for concurrent
// use.
type V1Client struct {
	*conn
	now func() time.Time
}

// NewV1Client returns a client for Cal.com API v1 at baseURL, the API's
// root without a version (https://cal.example.com/api), authenticated with
// apiKey. A malformed baseURL is reported by every call.
func NewV1Client(baseURL, apiKey string, opts Options) *V1Client {
	return &V1Client{conn: newConn(baseURL, apiKey, opts), now: time.Now}
}

// ErrNoID is returned, wrapped, when API v1 is asked about a BookingRef
// without an ID.
var ErrNoID = errors.New("booking ref has no id")

// NotPending is the APIError.Code V1Client gives a confirm or decline of a
// booking that is no longer pending: API v1 itself would accept or cancel
// it regardless, so the client checks first and answers as v2 does, 400.
const NotPending = "not_pending"

// GetBooking fetches a booking: GET /v1/bookings/{id}.
func (c *V1Client) GetBooking(ctx context.Context, ref BookingRef) (Booking, error) {
	b, err := c.get(ctx, ref)
	if err != nil {
		return Booking{}, fmt.Errorf("get booking: %w", err)
	}
	return b, nil
}

// Confirm accepts a pending booking: PATCH /v1/bookings/{id} with
// {"status":"ACCEPTED"}. v1 would accept a booking in any state, so the
// booking is read first; one no longer pending is an *APIError 400 with
// Code NotPending, as v2 answers.
func (c *V1Client) Confirm(ctx context.Context, ref BookingRef) error {
	path, err := c.pendingPath(ctx, ref)
	if err != nil {
		return fmt.Errorf("confirm booking: %w", err)
	}
	if _, err := c.do(ctx, c.v1Call(http.MethodPatch, path, nil, map[string]string{"status": "ACCEPTED"})); err != nil {
		return fmt.Errorf("confirm booking: %w", err)
	}
	return nil
}

// Decline refuses a pending booking, which v1 does by cancelling it:
// DELETE /v1/bookings/{id}/cancel?cancellationReason=reason. As with
// Confirm, a booking no longer pending is an *APIError 400 NotPending, so
// that a booking the host accepted meanwhile is never cancelled.
func (c *V1Client) Decline(ctx context.Context, ref BookingRef, reason string) error {
	path, err := c.pendingPath(ctx, ref)
	if err != nil {
		return fmt.Errorf("decline booking: %w", err)
	}
	if err := c.cancel(ctx, path, reason); err != nil {
		return fmt.Errorf("decline booking: %w", err)
	}
	return nil
}

// Cancel cancels a booking: DELETE /v1/bookings/{id}/cancel with the
// reason the booker sees. Cal.com answers 400 when it is already cancelled.
func (c *V1Client) Cancel(ctx context.Context, ref BookingRef, reason string) error {
	path, err := v1Path(ref)
	if err != nil {
		return fmt.Errorf("cancel booking: %w", err)
	}
	if err := c.cancel(ctx, path, reason); err != nil {
		return fmt.Errorf("cancel booking: %w", err)
	}
	return nil
}

func (c *V1Client) cancel(ctx context.Context, path, reason string) error {
	rc := c.v1Call(http.MethodDelete, path+"/cancel", map[string]string{"cancellationReason": reason}, nil)
	_, err := c.do(ctx, rc)
	return err
}

func (c *V1Client) get(ctx context.Context, ref BookingRef) (Booking, error) {
	path, err := v1Path(ref)
	if err != nil {
		return Booking{}, err
	}
	data, err := c.do(ctx, c.v1Call(http.MethodGet, path, nil, nil))
	if err != nil {
		return Booking{}, err
	}
	var env struct {
		Booking *v1Booking `json:"booking"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return Booking{}, fmt.Errorf("get booking %d: decode response: %w", ref.ID, err)
	}
	if env.Booking == nil {
		return Booking{}, fmt.Errorf("get booking %d: decode response: no booking", ref.ID)
	}
	b, err := env.Booking.booking()
	if err != nil {
		return Booking{}, fmt.Errorf("get booking %d: %w", ref.ID, err)
	}
	return b, nil
}

// pendingPath reads the booking and returns its path if it is pending.
func (c *V1Client) pendingPath(ctx context.Context, ref BookingRef) (string, error) {
	b, err := c.get(ctx, ref)
	if err != nil {
		return "", err
	}
	path, _ := v1Path(ref)
	if b.Status != StatusPending {
		return "", &APIError{
			Status: http.StatusBadRequest, Code: NotPending, Method: http.MethodGet, Path: path,
			Message: fmt.Sprintf("booking id %d is not pending, it is %s", ref.ID, b.Status),
		}
	}
	return path, nil
}

// v1Path is /v1/bookings/{id}.
func v1Path(ref BookingRef) (string, error) {
	if ref.ID <= 0 {
		return "", ErrNoID
	}
	return "/v1/bookings/" + strconv.FormatInt(ref.ID, 10), nil
}

// v1Call puts the key in the query, where v1 wants it; do keeps the query
// out of every error and log line.
func (c *V1Client) v1Call(method, path string, params map[string]string, body any) call {
	rc := call{method: method, path: path, body: body}
	rc.query = map[string][]string{"apiKey": {c.apiKey}}
	for k, v := range params {
		rc.query.Set(k, v)
	}
	return rc
}

// ListPending lists the bookings with status PENDING that have not ended
// yet, the same set as v2's "unconfirmed": GET /v1/bookings, page by page.
// v1 cannot filter by status, so every upcoming booking is read and the
// pending ones kept. If a page fails, it returns the bookings listed so far
// with the error.
func (c *V1Client) ListPending(ctx context.Context) ([]Booking, error) {
	var out []Booking
	seen := make(map[int64]bool)
	now := c.now()
	for page := 1; page <= maxListPages; page++ {
		rc := c.v1Call(http.MethodGet, "/v1/bookings", map[string]string{
			"status": "upcoming", // start from now on; older instances ignore it
			"take":   strconv.Itoa(listPageSize),
			"page":   strconv.Itoa(page),
			"sortBy": "createdAt",
			"order":  "asc",
		}, nil)
		data, err := c.do(ctx, rc)
		if err != nil {
			return out, fmt.Errorf("list pending bookings: %w", err)
		}
		var env struct {
			Bookings []v1Booking `json:"bookings"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return out, fmt.Errorf("list pending bookings: page %d: decode response: %w", page, err)
		}
		fresh := 0
		for i, w := range env.Bookings {
			b, err := w.booking()
			if err != nil {
				return out, fmt.Errorf("list pending bookings: page %d: booking %d of %d: %w", page, i+1, len(env.Bookings), err)
			}
			if seen[b.ID] {
				continue
			}
			seen[b.ID] = true
			fresh++
			if b.Status == StatusPending && (b.End.IsZero() || !b.End.Before(now)) {
				out = append(out, b)
			}
		}
		// A short page is the last; a page with nothing new, or longer than
		// asked, comes from a server that ignores take and page.
		if len(env.Bookings) < listPageSize || len(env.Bookings) > listPageSize || fresh == 0 {
			return out, nil
		}
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "cal.com pending list cut short",
		slog.Int("pages", maxListPages), slog.Int("bookings", len(out)))
	return out, nil
}

// v1Booking is the part of API v1's booking (schemaBookingReadPublic) that
// creditgate reads.
type v1Booking struct {
	ID          json.RawMessage `json:"id"`
	UID         string          `json:"uid"`
	Status      string          `json:"status"`
	EventTypeID json.RawMessage `json:"eventTypeId"`
	StartTime   json.RawMessage `json:"startTime"`
	EndTime     json.RawMessage `json:"endTime"`
	Attendees   []struct {
		Email string `json:"email"`
	} `json:"attendees"`
	Responses          map[string]any `json:"responses"`
	CancellationReason string         `json:"cancellationReason"`
	RejectionReason    string         `json:"rejectionReason"`
	FromReschedule     string         `json:"fromReschedule"`
}

func (w v1Booking) booking() (Booking, error) {
	b := Booking{
		UID:                strings.TrimSpace(w.UID),
		Status:             NormalizeStatus(w.Status),
		CancellationReason: w.CancellationReason,
		RejectionReason:    w.RejectionReason,
		RescheduledFromUID: strings.TrimSpace(w.FromReschedule),
	}
	var err error
	if b.ID, err = parseID("booking.id", w.ID); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if b.EventTypeID, err = parseID("booking.eventTypeId", w.EventTypeID); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if b.Start, err = parseTime("booking.startTime", w.StartTime); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if b.End, err = parseTime("booking.endTime", w.EndTime); err != nil {
		return Booking{}, fmt.Errorf("decode response: %w", err)
	}
	if len(w.Attendees) > 0 {
		b.AttendeeEmail = strings.TrimSpace(w.Attendees[0].Email)
	}
	if email, ok := w.Responses["email"].(string); ok && b.AttendeeEmail == "" { // as v2 reads it
		b.AttendeeEmail = strings.TrimSpace(email)
	}
	return b, nil
}
