package calapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/creditgate/creditgate/calapi"
)

// WebhookBody is the JSON body Cal.com sends for trigger about booking b,
// shaped like Cal.com's sendPayload: the fields creditgate reads plus some
// it ignores. extra is merged into payload (rescheduleUid, cancelledBy...).
func WebhookBody(trigger string, b calapi.Booking, extra map[string]any) []byte {
	status := map[string]string{
		calapi.StatusPending: "PENDING", calapi.StatusAccepted: "ACCEPTED",
		calapi.StatusRejected: "REJECTED", calapi.StatusCancelled: "CANCELLED",
	}[b.Status]
	if status == "" {
		status = strings.ToUpper(b.Status)
	}
	start, end := b.Start, b.End
	if start.IsZero() {
		start = time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	}
	if end.IsZero() {
		end = start.Add(time.Hour)
	}
	name := strings.SplitN(b.AttendeeEmail, "@", 2)[0]
	payload := map[string]any{
		"type":        "book-club-session",
		"title":       "Book club session between Host and " + name,
		"description": "",
		"startTime":   start.Format(time.RFC3339),
		"endTime":     end.Format(time.RFC3339),
		"organizer": map[string]any{
			"name": "Host", "email": "host@bookclub.example", "timeZone": "Europe/London",
			"language": map[string]string{"locale": "en"},
		},
		"attendees": []map[string]any{{
			"name": name, "email": b.AttendeeEmail, "timeZone": "Europe/London",
			"language": map[string]string{"locale": "en"},
		}},
		"responses": map[string]any{
			"name":  map[string]any{"label": "your_name", "value": name},
			"email": map[string]any{"label": "email_address", "value": b.AttendeeEmail},
		},
		"uid":         b.UID,
		"bookingId":   b.ID,
		"eventTypeId": b.EventTypeID,
		"status":      status,
		"price":       0,
		"currency":    "usd",
		"length":      int(end.Sub(start).Minutes()),
		"metadata":    map[string]any{},
	}
	for k, v := range extra {
		payload[k] = v
	}
	body, err := json.Marshal(map[string]any{
		"triggerEvent": trigger,
		"createdAt":    time.Now().UTC().Format(time.RFC3339Nano),
		"payload":      payload,
	})
	if err != nil {
		panic(fmt.Sprintf("calapitest: marshal webhook: %v", err)) // only maps of plain values: cannot fail
	}
	return body
}

// PostWebhook sends body to url signed with secret, as Cal.com does.
func PostWebhook(ctx context.Context, client *http.Client, url, secret string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("post webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(calapi.SignatureHeader, calapi.Sign(secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post webhook: %w", err)
	}
	return resp, nil
}
