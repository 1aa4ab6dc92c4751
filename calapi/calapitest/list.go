package calapitest

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/creditgate/creditgate/calapi"
)

// v2 list limits, as GetBookingsInput_2024_08_13 sets them.
const (
	v2DefaultTake = 100
	v2MaxTake     = 250
)

// handleList is GET /v2/bookings: filtered by status (comma-separated: a
// booking matching any is kept), oldest first, paged with take and skip.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var statuses []string
	if v := q.Get("status"); q.Has("status") {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains([]string{"upcoming", "recurring", "past", "cancelled", "unconfirmed"}, st) {
				writeError(w, r, http.StatusBadRequest, "BadRequestException",
					"Invalid status. Allowed are upcoming, recurring, past, cancelled, unconfirmed")
				return
			}
			statuses = append(statuses, st)
		}
	}
	take, ok := intParam(q.Get("take"), v2DefaultTake, 1, v2MaxTake)
	if !ok {
		writeError(w, r, http.StatusBadRequest, "BadRequestException", "take must not be greater than 250")
		return
	}
	skip, ok := intParam(q.Get("skip"), 0, 0, 1<<30)
	if !ok {
		writeError(w, r, http.StatusBadRequest, "BadRequestException", "skip must not be less than 0")
		return
	}
	now := time.Now()
	all := s.sortedBookings(func(b calapi.Booking) bool {
		if len(statuses) == 0 {
			return true
		}
		return slices.ContainsFunc(statuses, func(st string) bool { return v2StatusMatches(st, b, now) })
	})
	page := all[min(skip, len(all)):min(skip+take, len(all))]
	data := make([]bookingOutput, 0, len(page))
	for _, b := range page {
		data = append(data, output(b))
	}
	remaining := max(0, len(all)-skip-len(page))
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success",
		"data":   data,
		"pagination": map[string]any{
			"totalItems":      len(all),
			"remainingItems":  remaining,
			"returnedItems":   len(page),
			"itemsPerPage":    take,
			"currentPage":     skip/take + 1,
			"totalPages":      (len(all) + take - 1) / take,
			"hasNextPage":     remaining > 0,
			"hasPreviousPage": skip > 0,
		},
	})
}

// v2StatusMatches is API v2's list filter: unconfirmed is pending and not
// yet ended, upcoming and past split the live bookings at now. A zero End
// counts as not ended.
func v2StatusMatches(filter string, b calapi.Booking, now time.Time) bool {
	ended := !b.End.IsZero() && b.End.Before(now)
	live := b.Status != calapi.StatusCancelled && b.Status != calapi.StatusRejected
	switch filter {
	case "unconfirmed":
		return b.Status == calapi.StatusPending && !ended
	case "upcoming":
		return live && !ended
	case "past":
		return live && ended
	case "cancelled":
		return !live
	}
	return false // recurring: the fake has no series
}

// handleV1List is GET /v1/bookings: every booking, or with status=upcoming
// those starting from now; paged only when both take and page are given,
// as the real one does.
func (s *Server) handleV1List(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	upcoming := false
	switch q.Get("status") {
	case "":
	case "upcoming":
		upcoming = true
	default:
		writeV1Error(w, http.StatusBadRequest, "Invalid status")
		return
	}
	now := time.Now()
	all := s.sortedBookings(func(b calapi.Booking) bool {
		return !upcoming || b.Start.IsZero() || !b.Start.Before(now)
	})
	if q.Get("take") != "" && q.Get("page") != "" {
		take, okTake := intParam(q.Get("take"), 10, 1, 1<<30)
		page, okPage := intParam(q.Get("page"), 1, 1, 1<<30)
		if !okTake || !okPage {
			writeV1Error(w, http.StatusBadRequest, "take and page must be whole numbers of at least 1")
			return
		}
		skip := min((page-1)*take, len(all))
		all = all[skip:min(skip+take, len(all))]
	}
	out := make([]v1BookingOutput, 0, len(all))
	for _, b := range all {
		out = append(out, v1Output(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"bookings": out})
}

// sortedBookings returns the bookings keep accepts, by id: the order they
// were created in.
func (s *Server) sortedBookings(keep func(calapi.Booking) bool) []calapi.Booking {
	s.mu.Lock()
	out := make([]calapi.Booking, 0, len(s.bookings))
	for _, b := range s.bookings {
		if keep(*b) {
			out = append(out, *b)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b calapi.Booking) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), strings.Compare(a.UID, b.UID))
	})
	return out
}

// intParam reads an optional whole-number query parameter within [lo, hi].
func intParam(v string, def, lo, hi int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}
