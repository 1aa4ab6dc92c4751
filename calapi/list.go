package calapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
)

const (
	// listPageSize is how many bookings one list call asks for: v2 allows
	// up to 250, v1 has no stated maximum; 100 keeps answers small.
	listPageSize = 100
	// maxListPages bounds one listing, so that a server that keeps saying
	// there is more cannot hold a reconciler forever. What is left is
	// listed on the next round, once the first pages are decided.
	maxListPages = 50
)

// ListPending lists the bookings waiting for the host's confirmation that
// have not ended yet (API v2's "unconfirmed"), following every page. If a
// page fails, it returns the bookings listed so far with the error.
func (c *Client) ListPending(ctx context.Context) ([]Booking, error) {
	var out []Booking
	for page := 0; page < maxListPages; page++ {
		q := url.Values{
			"status":      {"unconfirmed"},
			"take":        {strconv.Itoa(listPageSize)},
			"skip":        {strconv.Itoa(page * listPageSize)},
			"sortCreated": {"asc"}, // steadier pages while bookings are added
		}
		rc := c.v2Call(http.MethodGet, "/v2/bookings", nil)
		rc.query = q
		data, err := c.do(ctx, rc)
		if err != nil {
			return out, fmt.Errorf("list pending bookings: %w", err)
		}
		bookings, more, err := decodeV2List(data)
		if err != nil {
			return out, fmt.Errorf("list pending bookings: page %d: %w", page+1, err)
		}
		out = append(out, bookings...)
		if !more {
			return out, nil
		}
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "cal.com pending list cut short",
		slog.Int("pages", maxListPages), slog.Int("bookings", len(out)))
	return out, nil
}

// decodeV2List reads {"status":"success","data":[...],"pagination":{...}}
// and reports whether another page follows: pagination.hasNextPage, or,
// from a server that sends no pagination, a full page.
func decodeV2List(body []byte) ([]Booking, bool, error) {
	var env struct {
		Data       []v2Booking `json:"data"`
		Pagination *struct {
			HasNextPage bool `json:"hasNextPage"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, false, fmt.Errorf("decode response: %w", err)
	}
	out := make([]Booking, 0, len(env.Data))
	for i, w := range env.Data {
		b, err := w.booking()
		if err != nil {
			return nil, false, fmt.Errorf("booking %d of %d: %w", i+1, len(env.Data), err)
		}
		out = append(out, b)
	}
	more := len(env.Data) >= listPageSize
	if env.Pagination != nil {
		more = env.Pagination.HasNextPage
	}
	return out, more && len(env.Data) > 0, nil
}
