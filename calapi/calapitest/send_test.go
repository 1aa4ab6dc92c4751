package calapitest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
)

// WebhookBody must stay something DecodeWebhook reads as Cal.com's own.
func TestWebhookBodyDecodes(t *testing.T) {
	t.Parallel()
	b := calapi.Booking{UID: "u1", ID: 9, Status: calapi.StatusPending, EventTypeID: 7, AttendeeEmail: "ada@example.com",
		Start: time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC), End: time.Date(2030, 3, 14, 15, 30, 0, 0, time.UTC)}
	tests := []struct {
		trigger    string
		status     string
		extra      map[string]any
		wantStatus string
	}{
		{trigger: calapi.TriggerBookingRequested, status: calapi.StatusPending, wantStatus: "PENDING",
			extra: map[string]any{"rescheduleUid": "old"}},
		{trigger: calapi.TriggerBookingCreated, status: calapi.StatusAccepted, wantStatus: "ACCEPTED"},
		{trigger: calapi.TriggerBookingCancelled, status: calapi.StatusCancelled, wantStatus: "CANCELLED",
			extra: map[string]any{"cancelledBy": "ada@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.trigger, func(t *testing.T) {
			t.Parallel()
			x := b
			x.Status = tt.status
			w, err := calapi.DecodeWebhook(calapitest.WebhookBody(tt.trigger, x, tt.extra))
			require.NoError(t, err)
			require.Equal(t, tt.trigger, w.TriggerEvent)
			require.Equal(t, "u1", w.Payload.UID)
			require.Equal(t, int64(9), w.Payload.BookingID)
			require.Equal(t, int64(7), w.Payload.EventTypeID)
			require.Equal(t, tt.wantStatus, w.Payload.Status)
			require.Equal(t, tt.status, calapi.NormalizeStatus(w.Payload.Status))
			require.Equal(t, b.Start, w.Payload.StartTime)
			require.Equal(t, "ada@example.com", w.Payload.BookerEmail())
			require.Equal(t, tt.extra["rescheduleUid"] != nil, w.Payload.RescheduleUID == "old")
			require.Equal(t, tt.extra["cancelledBy"] != nil, w.Payload.CancelledBy == "ada@example.com")
		})
	}
}

func TestPostWebhookSigns(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calapi.VerifySignature("whsec", body, r.Header.Get(calapi.SignatureHeader)) != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	body := calapitest.WebhookBody(calapi.TriggerPing, calapi.Booking{}, nil)
	resp, err := calapitest.PostWebhook(t.Context(), srv.Client(), srv.URL, "whsec", body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = calapitest.PostWebhook(t.Context(), srv.Client(), srv.URL, "other", body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
