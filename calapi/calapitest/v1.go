package calapitest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/creditgate/creditgate/calapi"
)

// v1 checks what every v1 route needs: the apiKey query parameter. Answers
// are the legacy API's: {"message": "..."} on errors.
func (s *Server) v1(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("apiKey")
		if key == "" {
			writeV1Error(w, http.StatusUnauthorized, "No apiKey provided")
			return
		}
		if s.apiKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1 {
			writeV1Error(w, http.StatusUnauthorized, "Your apiKey is not valid")
			return
		}
		next(w, r)
	})
}

func isV1(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }

// writeV1Error writes API v1's error body.
func writeV1Error(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"message": message})
}

func (s *Server) handleV1Get(w http.ResponseWriter, r *http.Request) {
	s.v1Transition(w, r, func(*calapi.Booking) (int, string) { return 0, "" }, func(b calapi.Booking) any {
		return map[string]any{"booking": v1Output(b)}
	})
}

// handleV1Patch is PATCH /v1/bookings/{id}: like the real one, it sets the
// status it is sent whatever the booking's state.
func (s *Server) handleV1Patch(w http.ResponseWriter, r *http.Request) {
	var in map[string]json.RawMessage
	if !readBody(w, r, &in) {
		return
	}
	var status string
	for field, raw := range in {
		switch field {
		case "status":
			if json.Unmarshal(raw, &status) != nil {
				writeV1Error(w, http.StatusBadRequest, "status: Expected string")
				return
			}
		case "title", "description", "startTime", "endTime", "cancelledBy", "rescheduledBy", "userId", "eventTypeId":
		default:
			writeV1Error(w, http.StatusBadRequest, fmt.Sprintf("Unrecognized key(s) in object: '%s'", field))
			return
		}
	}
	switch status {
	case "", "ACCEPTED", "PENDING", "CANCELLED", "REJECTED", "AWAITING_HOST":
	default:
		writeV1Error(w, http.StatusBadRequest, fmt.Sprintf("status: Invalid enum value. Received '%s'", status))
		return
	}
	s.v1Transition(w, r, func(b *calapi.Booking) (int, string) {
		if status != "" {
			b.Status = calapi.NormalizeStatus(status)
		}
		return 0, ""
	}, func(b calapi.Booking) any { return map[string]any{"booking": v1Output(b)} })
}

// handleV1Cancel is DELETE /v1/bookings/{id}/cancel?cancellationReason=...
func (s *Server) handleV1Cancel(w http.ResponseWriter, r *http.Request) {
	reason := r.URL.Query().Get("cancellationReason")
	if reason == "" {
		reason = "Not Provided" // the real default
	}
	s.v1Transition(w, r, func(b *calapi.Booking) (int, string) {
		if b.Status == calapi.StatusCancelled {
			return http.StatusBadRequest, "This booking has already been cancelled."
		}
		b.Status, b.CancellationReason = calapi.StatusCancelled, reason
		return 0, ""
	}, func(b calapi.Booking) any {
		return map[string]any{"success": true, "message": "Booking successfully cancelled.",
			"onlyRemovedAttendee": false, "bookingId": b.ID, "bookingUid": b.UID}
	})
}

// v1Transition applies change to the booking whose id is in the path,
// atomically, and answers with answer(booking), or with the status and
// message change returns.
func (s *Server) v1Transition(w http.ResponseWriter, r *http.Request,
	change func(*calapi.Booking) (int, string), answer func(calapi.Booking) any) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeV1Error(w, http.StatusBadRequest, "id: Expected number, received nan")
		return
	}
	s.mu.Lock()
	b, ok := s.bookings[s.byID[id]]
	var status int
	var refused string
	var out calapi.Booking
	if ok {
		status, refused = change(b)
		out = *b
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeV1Error(w, http.StatusNotFound, "Booking not found")
	case refused != "":
		writeV1Error(w, status, refused)
	default:
		writeJSON(w, http.StatusOK, answer(out))
	}
}

// v1BookingOutput is API v1's schemaBookingReadPublic.
type v1BookingOutput struct {
	ID             int64             `json:"id"`
	UserID         int64             `json:"userId"`
	Description    string            `json:"description"`
	EventTypeID    int64             `json:"eventTypeId"`
	UID            string            `json:"uid"`
	Title          string            `json:"title"`
	StartTime      string            `json:"startTime"`
	EndTime        string            `json:"endTime"`
	TimeZone       *string           `json:"timeZone"`
	Attendees      []v1Person        `json:"attendees"`
	User           v1Person          `json:"user"`
	Payment        []any             `json:"payment"`
	Metadata       map[string]string `json:"metadata"`
	Status         string            `json:"status"`
	Responses      map[string]any    `json:"responses"`
	FromReschedule *string           `json:"fromReschedule"`
	CancelledBy    *string           `json:"cancelledBy"`
	RescheduledBy  *string           `json:"rescheduledBy"`
	CreatedAt      string            `json:"createdAt"`
}

type v1Person struct {
	ID       int64  `json:"id,omitempty"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	TimeZone string `json:"timeZone"`
	Locale   string `json:"locale"`
}

func v1Output(b calapi.Booking) v1BookingOutput {
	name, _, _ := strings.Cut(b.AttendeeEmail, "@")
	var from *string
	if b.RescheduledFromUID != "" {
		from = &b.RescheduledFromUID
	}
	return v1BookingOutput{
		FromReschedule: from,
		ID:             b.ID, UserID: 1, EventTypeID: b.EventTypeID, UID: b.UID,
		Title:     "Meeting between Host and " + name,
		StartTime: isoTime(b.Start),
		EndTime:   isoTime(b.End),
		Attendees: []v1Person{{ID: b.ID, Email: b.AttendeeEmail, Name: name, TimeZone: "UTC", Locale: "en"}},
		User:      v1Person{Email: "host@example.com", Name: "Host", TimeZone: "UTC", Locale: "en"},
		Payment:   []any{},
		Metadata:  map[string]string{},
		Status:    strings.ToUpper(b.Status),
		Responses: map[string]any{"email": b.AttendeeEmail, "name": name},
		CreatedAt: isoTime(b.Start.Add(-24 * time.Hour)),
	}
}
