package calapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// v2Page is one page of GET /v2/bookings as Cal.com answers it: uids
// p<skip+1>..., with or without the pagination object.
func v2Page(skip, n, total int, withPagination bool) map[string]any {
	data := make([]map[string]any, 0, n)
	for i := skip; i < skip+n; i++ {
		data = append(data, map[string]any{"id": i + 1, "uid": fmt.Sprintf("p%d", i+1), "status": "unconfirmed",
			"eventTypeId": 7, "start": "2030-03-14T15:00:00.000Z", "end": "2030-03-14T15:30:00.000Z",
			"attendees": []map[string]any{{"email": fmt.Sprintf("m%d@example.com", i+1)}}})
	}
	out := map[string]any{"status": "success", "data": data}
	if withPagination {
		out["pagination"] = map[string]any{"totalItems": total, "returnedItems": n, "itemsPerPage": listPageSize,
			"remainingItems": total - skip - n, "hasNextPage": skip+n < total, "hasPreviousPage": skip > 0}
	}
	return out
}

func TestListPendingV2FollowsPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		total          int
		withPagination bool
		wantPages      int
	}{
		{name: "none", total: 0, withPagination: true, wantPages: 1},
		{name: "one short page", total: 3, withPagination: true, wantPages: 1},
		{name: "exactly one full page", total: listPageSize, withPagination: true, wantPages: 1},
		{name: "three pages", total: 2*listPageSize + 17, withPagination: true, wantPages: 3},
		{name: "no pagination object: a short page is the last", total: listPageSize + 1, wantPages: 2},
		{name: "no pagination object, full last page", total: 2 * listPageSize, wantPages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				skip, _ := strconv.Atoi(q.Get("skip"))
				take, _ := strconv.Atoi(q.Get("take"))
				if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("cal-api-version") != apiVersionV2 ||
					q.Get("status") != "unconfirmed" || take != listPageSize || q.Get("sortCreated") != "asc" {
					http.Error(w, "unexpected "+r.URL.String(), http.StatusTeapot)
					return
				}
				n := max(0, min(take, tt.total-skip))
				_ = json.NewEncoder(w).Encode(v2Page(skip, n, tt.total, tt.withPagination))
			})
			got, err := newTestClient(srv.URL, Options{}).ListPending(t.Context())
			require.NoError(t, err)
			require.Len(t, got, tt.total)
			for i, b := range got {
				require.Equal(t, fmt.Sprintf("p%d", i+1), b.UID)
				require.Equal(t, int64(i+1), b.ID)
				require.Equal(t, StatusPending, b.Status)
				require.Equal(t, fmt.Sprintf("m%d@example.com", i+1), b.AttendeeEmail)
			}
			reqs := srv.requests()
			require.Len(t, reqs, tt.wantPages)
			for i, r := range reqs {
				require.Equal(t, "/v2/bookings", r.path)
				require.Equal(t, strconv.Itoa(i*listPageSize), r.query.Get("skip"))
			}
		})
	}
}

func TestListPendingStopsAtTheCap(t *testing.T) {
	t.Parallel()
	srv := newV1Server(t, func(w http.ResponseWriter, r *http.Request) {
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		_ = json.NewEncoder(w).Encode(v2Page(skip, listPageSize, 1<<30, true)) // always more
	})
	var logs syncBuffer
	c := newTestClient(srv.URL, Options{Logger: newDebugLogger(&logs)})
	got, err := c.ListPending(t.Context())
	require.NoError(t, err)
	require.Len(t, got, maxListPages*listPageSize)
	require.Len(t, srv.requests(), maxListPages)
	require.Contains(t, logs.String(), "cut short")
}

func TestListPendingV2KeepsWhatItListedBeforeAnError(t *testing.T) {
	t.Parallel()
	srv := newV1Server(t, func(w http.ResponseWriter, r *http.Request) {
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		if skip > 0 {
			w.Header().Set("X-RateLimit-Reset-Default", "12")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_ = json.NewEncoder(w).Encode(v2Page(0, listPageSize, 3*listPageSize, true))
	})
	got, err := newTestClient(srv.URL, Options{}).ListPending(t.Context())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.True(t, apiErr.RateLimited())
	require.Equal(t, 12*time.Second, apiErr.RetryAfter)
	require.ErrorContains(t, err, "list pending bookings: cal.com GET /v2/bookings: 429")
	require.Len(t, got, listPageSize, "the first page is kept")
}

func TestListPendingV2BadAnswers(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not JSON":         `<html>`,
		"data not a list":  `{"status":"success","data":{"uid":"x"}}`,
		"a booking is bad": `{"status":"success","data":[{"uid":"a","start":"soon"}]}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
			_, err := newTestClient(srv.URL, Options{}).ListPending(t.Context())
			require.ErrorContains(t, err, "list pending bookings: page 1: ")
		})
	}
}

// v1Bookings is GET /v1/bookings's answer for ids from..to, every third
// one pending and the others accepted or cancelled.
func v1Bookings(ids []int, end time.Time) map[string]any {
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		status := []string{"PENDING", "ACCEPTED", "CANCELLED"}[id%3]
		out = append(out, map[string]any{"id": id, "uid": fmt.Sprintf("u%d", id), "status": status, "eventTypeId": 7,
			"startTime": end.Add(-30 * time.Minute).Format(time.RFC3339), "endTime": end.Format(time.RFC3339),
			"attendees": []map[string]any{{"email": fmt.Sprintf("m%d@example.com", id)}}})
	}
	return map[string]any{"bookings": out}
}

func TestListPendingV1FollowsPagesAndKeepsPending(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	ids := func(from, to int) []int {
		var out []int
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name      string
		total     int
		paginates bool // false: the server ignores take and page
		wantPages int
	}{
		{name: "three pages", total: 2*listPageSize + 30, paginates: true, wantPages: 3},
		{name: "full last page, then an empty one", total: 2 * listPageSize, paginates: true, wantPages: 3},
		{name: "server ignoring pagination, long list", total: 3 * listPageSize, wantPages: 1},
		{name: "server ignoring pagination, exactly a page", total: listPageSize, wantPages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newV1Server(t, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if q.Get("apiKey") != testKey || q.Get("take") != strconv.Itoa(listPageSize) || q.Get("status") != "upcoming" {
					http.Error(w, "unexpected query", http.StatusTeapot)
					return
				}
				page, _ := strconv.Atoi(q.Get("page"))
				from, to := 1, tt.total
				if tt.paginates {
					from, to = (page-1)*listPageSize+1, min(page*listPageSize, tt.total)
				}
				_ = json.NewEncoder(w).Encode(v1Bookings(ids(from, to), future))
			})
			got, err := newTestV1Client(srv.URL, Options{}).ListPending(t.Context())
			require.NoError(t, err)
			var want []string
			for id := 1; id <= tt.total; id++ {
				if id%3 == 0 {
					want = append(want, fmt.Sprintf("u%d", id))
				}
			}
			var uids []string
			for _, b := range got {
				uids = append(uids, b.UID)
				require.Equal(t, StatusPending, b.Status)
				require.Equal(t, future, b.End)
			}
			require.Equal(t, want, uids)
			reqs := srv.requests()
			require.Len(t, reqs, tt.wantPages)
			for i, r := range reqs {
				require.Equal(t, "/v1/bookings", r.path)
				require.Equal(t, url.Values{"apiKey": {testKey}, "take": {"100"}, "page": {strconv.Itoa(i + 1)},
					"status": {"upcoming"}, "sortBy": {"createdAt"}, "order": {"asc"}}, r.query)
			}
		})
	}
}

func TestListPendingV1SkipsEndedBookings(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 3, 14, 12, 0, 0, 0, time.UTC)
	srv := newV1Server(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"bookings":[
			{"id":1,"uid":"ended","status":"PENDING","endTime":"2030-03-14T11:59:00Z"},
			{"id":2,"uid":"running","status":"PENDING","startTime":"2030-03-14T11:30:00Z","endTime":"2030-03-14T12:30:00Z"},
			{"id":3,"uid":"no-end","status":"PENDING"},
			{"id":4,"uid":"accepted","status":"ACCEPTED","endTime":"2030-03-15T12:00:00Z"}]}`))
	})
	c := newTestV1Client(srv.URL, Options{})
	c.now = func() time.Time { return now }
	got, err := c.ListPending(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "running", got[0].UID)
	require.Equal(t, "no-end", got[1].UID)
}
