package calapitest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/creditgate/creditgate/calapi"
)

// apiVersion is the cal-api-version the v2 bookings routes require.
const apiVersion = "2024-08-13"

// routes lists every route the fake speaks.
func (s *Server) routes() {
	s.mux.Handle("GET /v2/bookings", s.v2(s.handleList))
	s.mux.Handle("GET /v2/bookings/{uid}", s.v2(s.handleGetBooking))
	s.mux.Handle("POST /v2/bookings/{uid}/confirm", s.v2(s.handleConfirm))
	s.mux.Handle("POST /v2/bookings/{uid}/decline", s.v2(s.handleDecline))
	s.mux.Handle("POST /v2/bookings/{uid}/cancel", s.v2(s.handleCancel))

	s.mux.Handle("GET /v1/bookings", s.v1(s.handleV1List))
	s.mux.Handle("GET /v1/bookings/{id}", s.v1(s.handleV1Get))
	s.mux.Handle("PATCH /v1/bookings/{id}", s.v1(s.handleV1Patch))
	s.mux.Handle("DELETE /v1/bookings/{id}/cancel", s.v1(s.handleV1Cancel))

	s.mux.HandleFunc("/", handleNotFound)
}

// v2 checks what every v2 route needs: the Bearer key, then the version.
func (s *Server) v2(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.apiKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1 {
			writeError(w, r, http.StatusUnauthorized, "UnauthorizedException", "Invalid API Key")
			return
		}
		if v := r.Header.Get("cal-api-version"); v != apiVersion {
			writeError(w, r, http.StatusBadRequest, "BadRequestException",
				fmt.Sprintf("cal-api-version header must be %s, got %q", apiVersion, v))
			return
		}
		next(w, r)
	})
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	if isV1(r) {
		writeV1Error(w, http.StatusNotFound, "Not found")
		return
	}
	writeError(w, r, http.StatusNotFound, "NotFoundException", fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path))
}

func (s *Server) handleGetBooking(w http.ResponseWriter, r *http.Request) {
	b, ok := s.Booking(r.PathValue("uid"))
	if !ok {
		writeBookingNotFound(w, r)
		return
	}
	writeSuccess(w, b)
}

func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	s.transition(w, r, func(b *calapi.Booking) string {
		if b.Status != calapi.StatusPending {
			return fmt.Sprintf("Booking with uid=%s is not pending, it is %s", b.UID, b.Status)
		}
		b.Status = calapi.StatusAccepted
		return ""
	})
}

func (s *Server) handleDecline(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if !readBody(w, r, &in) {
		return
	}
	s.transition(w, r, func(b *calapi.Booking) string {
		if b.Status != calapi.StatusPending {
			return fmt.Sprintf("Booking with uid=%s is not pending, it is %s", b.UID, b.Status)
		}
		b.Status, b.RejectionReason = calapi.StatusRejected, in.Reason
		return ""
	})
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CancellationReason string `json:"cancellationReason"`
	}
	if !readBody(w, r, &in) {
		return
	}
	s.transition(w, r, func(b *calapi.Booking) string {
		if b.Status == calapi.StatusCancelled {
			return "This booking has already been cancelled."
		}
		b.Status, b.CancellationReason = calapi.StatusCancelled, in.CancellationReason
		return ""
	})
}

// transition applies change to the booking named in the path, atomically,
// and answers with the booking, or 400 with the message change returns.
func (s *Server) transition(w http.ResponseWriter, r *http.Request, change func(*calapi.Booking) string) {
	s.mu.Lock()
	b, ok := s.bookings[r.PathValue("uid")]
	var refused string
	var out calapi.Booking
	if ok {
		refused = change(b)
		out = *b
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeBookingNotFound(w, r)
	case refused != "":
		writeError(w, r, http.StatusBadRequest, "BadRequestException", refused)
	default:
		writeSuccess(w, out)
	}
}

// readBody decodes an optional JSON body into v, answering 400 if it is not
// JSON. serve has already read the body into memory.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return true
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		if isV1(r) {
			writeV1Error(w, http.StatusBadRequest, "Invalid JSON body")
		} else {
			writeError(w, r, http.StatusBadRequest, "BadRequestException", "Invalid JSON body")
		}
		return false
	}
	return true
}

func writeBookingNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "NotFoundException",
		fmt.Sprintf("Booking with uid=%s was not found in the database", r.PathValue("uid")))
}

// writeError writes Cal.com's v2 error body.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeJSON(w, status, map[string]any{
		"status":    "error",
		"timestamp": isoTime(time.Now()),
		"path":      r.URL.Path,
		"error":     map[string]string{"code": code, "message": message},
	})
}

// writeFailure answers with an error injected by FailNext.
func writeFailure(w http.ResponseWriter, r *http.Request, f *failure) {
	if f.status == http.StatusTooManyRequests {
		h := w.Header()
		h.Set("X-RateLimit-Limit-Default", "120")
		h.Set("X-RateLimit-Remaining-Default", "0")
		h.Set("X-RateLimit-Reset-Default", "1")
	}
	if isV1(r) {
		writeV1Error(w, f.status, f.message)
		return
	}
	writeError(w, r, f.status, f.code, f.message)
}

func writeSuccess(w http.ResponseWriter, b calapi.Booking) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": output(b)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bookingOutput is API v2's booking (2024-08-13), with the fields a real
// answer carries so that clients meet realistic bodies.
type bookingOutput struct {
	ID                 int64             `json:"id"`
	UID                string            `json:"uid"`
	Title              string            `json:"title"`
	Description        string            `json:"description"`
	Hosts              []person          `json:"hosts"`
	Status             string            `json:"status"`
	CancellationReason string            `json:"cancellationReason,omitempty"`
	Start              string            `json:"start"`
	End                string            `json:"end"`
	Duration           int               `json:"duration"`
	EventTypeID        int64             `json:"eventTypeId"`
	EventType          eventType         `json:"eventType"`
	Location           string            `json:"location"`
	AbsentHost         bool              `json:"absentHost"`
	CreatedAt          string            `json:"createdAt"`
	UpdatedAt          *string           `json:"updatedAt"`
	Metadata           map[string]string `json:"metadata"`
	Attendees          []person          `json:"attendees"`
	Guests             []string          `json:"guests"`
	Responses          map[string]any    `json:"bookingFieldsResponses"`
	RescheduledFromUID string            `json:"rescheduledFromUid,omitempty"`
}

type person struct {
	ID           int64  `json:"id,omitempty"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	DisplayEmail string `json:"displayEmail"`
	Username     string `json:"username,omitempty"`
	TimeZone     string `json:"timeZone"`
	Absent       *bool  `json:"absent,omitempty"`
}

type eventType struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
}

func output(b calapi.Booking) bookingOutput {
	name, _, _ := strings.Cut(b.AttendeeEmail, "@")
	absent := false
	return bookingOutput{
		ID: b.ID, UID: b.UID, Title: "Meeting between Host and " + name, Status: b.Status,
		Hosts: []person{{
			ID: 1, Name: "Host", Email: "host@example.com", DisplayEmail: "host@example.com",
			Username: "host", TimeZone: "UTC",
		}},
		CancellationReason: b.CancellationReason,
		RescheduledFromUID: b.RescheduledFromUID,
		Start:              isoTime(b.Start),
		End:                isoTime(b.End),
		Duration:           int(b.End.Sub(b.Start).Minutes()),
		EventTypeID:        b.EventTypeID,
		EventType:          eventType{ID: b.EventTypeID, Slug: fmt.Sprintf("event-%d", b.EventTypeID)},
		Location:           "integrations:daily",
		CreatedAt:          isoTime(b.Start.Add(-24 * time.Hour)),
		Metadata:           map[string]string{},
		Attendees: []person{{
			Name: name, Email: b.AttendeeEmail, DisplayEmail: b.AttendeeEmail, TimeZone: "UTC", Absent: &absent,
		}},
		Guests:    []string{},
		Responses: map[string]any{"email": b.AttendeeEmail, "name": name},
	}
}

// isoTime formats like JavaScript's toISOString, as Cal.com does.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
