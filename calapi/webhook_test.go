package calapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return body
}

func TestDecodeWebhookTestdata(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		file         string
		trigger      string
		status       string
		reason       string // cancellation or rejection
		cancelledBy  string
		createdAtSub time.Duration // sub-second part of createdAt
	}{
		{file: "booking_requested.json", trigger: calapi.TriggerBookingRequested, status: "PENDING", createdAtSub: 318 * time.Millisecond},
		{file: "booking_created.json", trigger: calapi.TriggerBookingCreated, status: "ACCEPTED", createdAtSub: 902 * time.Millisecond},
		{file: "booking_cancelled.json", trigger: calapi.TriggerBookingCancelled, status: "CANCELLED",
			reason: "Something came up, sorry!", cancelledBy: "ada@example.com", createdAtSub: 27 * time.Millisecond},
		{file: "booking_rejected.json", trigger: calapi.TriggerBookingRejected, status: "REJECTED",
			reason: "Not enough credit: balance 0, cost 1", createdAtSub: 511 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			w, err := calapi.DecodeWebhook(readTestdata(t, tt.file))
			require.NoError(t, err)
			require.Equal(t, tt.trigger, w.TriggerEvent)
			require.Equal(t, tt.createdAtSub, time.Duration(w.CreatedAt.Nanosecond()))
			p := w.Payload
			require.Equal(t, "bQ8vN2kXyR7sTpWm4cEa1J", p.UID)
			require.Equal(t, int64(48213), p.BookingID)
			require.Equal(t, int64(1207), p.EventTypeID)
			require.Equal(t, tt.status, p.Status)
			require.Equal(t, "Intro call between Grace Hopper and Ada Lovelace", p.Title)
			require.Equal(t, start, p.StartTime)
			require.Equal(t, start.Add(30*time.Minute), p.EndTime)
			require.Equal(t, []calapi.Person{{Name: "Ada Lovelace", Email: "ada@example.com", TimeZone: "Europe/Paris"}}, p.Attendees)
			require.Equal(t, calapi.Person{Name: "Grace Hopper", Email: "grace@host.example", TimeZone: "Europe/London"}, p.Organizer)
			require.Equal(t, "email_address", p.Responses["email"].Label)
			require.Equal(t, "ada@example.com", p.BookerEmail())
			require.Empty(t, p.RescheduleUID)
			require.Equal(t, tt.cancelledBy, p.CancelledBy)
			require.Equal(t, tt.reason, p.CancellationReason+p.RejectionReason)
		})
	}
}

func TestDecodeWebhookPing(t *testing.T) {
	t.Parallel()
	w, err := calapi.DecodeWebhook(readTestdata(t, "ping.json"))
	require.NoError(t, err)
	require.Equal(t, calapi.TriggerPing, w.TriggerEvent)
	require.Empty(t, w.Payload.UID)
	require.Equal(t, time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC), w.CreatedAt)
}

func TestDecodeWebhook(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 3, 14, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		wantErr string // "" means it decodes
		// wantWarn: it decodes, the unreadable optional field is left
		// zero and named in Warnings (the webhook must not be lost).
		wantWarn string
		check    func(t *testing.T, w calapi.Webhook)
	}{
		{
			name: "ids as strings",
			body: `{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"u1","bookingId":"42","eventTypeId":" 7 "}}`,
			check: func(t *testing.T, w calapi.Webhook) {
				require.Equal(t, int64(42), w.Payload.BookingID)
				require.Equal(t, int64(7), w.Payload.EventTypeID)
			},
		},
		{
			name: "ids null, empty string or whole floats",
			body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","bookingId":null,"eventTypeId":12.0}}`,
			check: func(t *testing.T, w calapi.Webhook) {
				require.Zero(t, w.Payload.BookingID)
				require.Equal(t, int64(12), w.Payload.EventTypeID)
			},
		},
		{name: "id not a number", body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","bookingId":"abc"}}`, wantWarn: `payload.bookingId: "abc" is not a whole number`},
		{name: "id negative", body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","eventTypeId":-3}}`, wantWarn: "payload.eventTypeId: -3 is negative"},
		{name: "id an object", body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","eventTypeId":{}}}`, wantWarn: "payload.eventTypeId: want a number"},
		{name: "time RFC 3339", body: timeBody(`"2030-03-14T15:00:00Z"`), check: startIs(at)},
		{name: "time with fraction", body: timeBody(`"2030-03-14T15:00:00.250Z"`), check: startIs(at.Add(250 * time.Millisecond))},
		{name: "time with offset", body: timeBody(`"2030-03-14T16:00:00+01:00"`), check: startIs(at)},
		{name: "time without zone is UTC", body: timeBody(`"2030-03-14T15:00:00"`), check: startIs(at)},
		{name: "time with a space", body: timeBody(`"2030-03-14 15:00:00"`), check: startIs(at)},
		{name: "time unix milliseconds", body: timeBody(`1899730800000`), check: startIs(at)},
		{name: "time null", body: timeBody(`null`), check: startIs(time.Time{})},
		{name: "time garbage", body: timeBody(`"next tuesday"`), wantWarn: `payload.startTime: "next tuesday" is not an RFC 3339 time`},
		{name: "time out of range", body: timeBody(`1e300`), wantWarn: "payload.startTime: 1e300 is out of range"},
		{name: "time a bool", body: timeBody(`true`), wantWarn: "payload.startTime: want a time string or unix milliseconds"},
		{
			name:  "createdAt missing",
			body:  `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1"}}`,
			check: func(t *testing.T, w calapi.Webhook) { require.True(t, w.CreatedAt.IsZero()) },
		},
		{name: "createdAt garbage", body: `{"triggerEvent":"BOOKING_CREATED","createdAt":"soon","payload":{"uid":"u1"}}`, wantWarn: "createdAt:"},
		{
			name: "reschedule names the old booking",
			body: `{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"new","rescheduleUid":"old","status":"PENDING"}}`,
			check: func(t *testing.T, w calapi.Webhook) {
				require.Equal(t, "new", w.Payload.UID)
				require.Equal(t, "old", w.Payload.RescheduleUID)
			},
		},
		{
			name:  "PING without payload",
			body:  `{"triggerEvent":"PING"}`,
			check: func(t *testing.T, w calapi.Webhook) { require.Equal(t, calapi.TriggerPing, w.TriggerEvent) },
		},
		{
			name:  "a trigger creditgate ignores needs no uid",
			body:  `{"triggerEvent":"OOO_CREATED","payload":{"oooEntry":{"id":1}}}`,
			check: func(t *testing.T, w calapi.Webhook) { require.Equal(t, "OOO_CREATED", w.TriggerEvent) },
		},
		{
			name: "odd responses are kept, not fatal",
			body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","responses":{"email":"bare@example.com","name":{"label":"your_name","value":{"firstName":"A","lastName":"B"}}}}}`,
			check: func(t *testing.T, w calapi.Webhook) {
				require.Equal(t, "bare@example.com", w.Payload.BookerEmail())
				require.JSONEq(t, `{"firstName":"A","lastName":"B"}`, string(w.Payload.Responses["name"].Value))
			},
		},
		{name: "missing uid", body: `{"triggerEvent":"BOOKING_REQUESTED","payload":{"bookingId":1}}`, wantErr: "not a cal.com webhook: missing payload.uid"},
		{name: "blank uid", body: `{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"  "}}`, wantErr: "missing payload.uid"},
		{name: "missing payload", body: `{"triggerEvent":"BOOKING_RESCHEDULED"}`, wantErr: "missing payload.uid"},
		{name: "missing trigger", body: `{"payload":{"uid":"u1"}}`, wantErr: "not a cal.com webhook: missing triggerEvent"},
		{name: "trigger a number", body: `{"triggerEvent":3}`, wantErr: "triggerEvent: want string, got JSON number"},
		{name: "attendees not a list", body: `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","attendees":{}}}`, wantErr: "payload.attendees: want array, got JSON object"},
		{name: "not JSON", body: `triggerEvent=PING`, wantErr: "body is not a JSON object"},
		{name: "broken JSON", body: `{"triggerEvent":"PING"`, wantErr: "invalid JSON"},
		{name: "trailing data", body: `{"triggerEvent":"PING"} {}`, wantErr: "invalid JSON"},
		{name: "array", body: `[{"triggerEvent":"PING"}]`, wantErr: "body is not a JSON object"},
		{name: "empty", body: ``, wantErr: "body is not a JSON object"},
		{name: "null", body: `null`, wantErr: "body is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := calapi.DecodeWebhook([]byte(tt.body))
			if tt.wantWarn != "" {
				require.NoError(t, err)
				require.Equal(t, "u1", w.Payload.UID)
				require.Contains(t, strings.Join(w.Warnings, "; "), tt.wantWarn)
				require.Zero(t, w.Payload.StartTime)
				require.Zero(t, w.Payload.EventTypeID)
				return
			}
			if tt.wantErr != "" {
				require.ErrorIs(t, err, calapi.ErrNotWebhook)
				require.ErrorContains(t, err, tt.wantErr)
				require.Zero(t, w)
				return
			}
			require.NoError(t, err)
			tt.check(t, w)
		})
	}
}

func timeBody(startTime string) string {
	return `{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"u1","startTime":` + startTime + `}}`
}

func startIs(want time.Time) func(*testing.T, calapi.Webhook) {
	return func(t *testing.T, w calapi.Webhook) {
		t.Helper()
		require.Equal(t, want, w.Payload.StartTime)
	}
}

func TestBookerEmail(t *testing.T) {
	t.Parallel()
	ada := []calapi.Person{{Email: " ada@example.com "}, {Email: "guest@example.com"}}
	tests := []struct {
		name string
		p    calapi.Payload
		want string
	}{
		{name: "form answer wins", p: calapi.Payload{
			Responses: map[string]calapi.Response{"email": {Value: []byte(`" booker@example.com "`)}}, Attendees: ada,
		}, want: "booker@example.com"},
		{name: "blank answer falls back to attendee", p: calapi.Payload{
			Responses: map[string]calapi.Response{"email": {Value: []byte(`"  "`)}}, Attendees: ada,
		}, want: "ada@example.com"},
		{name: "answer not a string falls back", p: calapi.Payload{
			Responses: map[string]calapi.Response{"email": {Value: []byte(`{"x":1}`)}}, Attendees: ada,
		}, want: "ada@example.com"},
		{name: "no responses", p: calapi.Payload{Attendees: ada}, want: "ada@example.com"},
		{name: "nothing", p: calapi.Payload{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.p.BookerEmail())
		})
	}
}

func TestNormalizeStatus(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"PENDING": calapi.StatusPending, "unconfirmed": calapi.StatusPending, "pending": calapi.StatusPending,
		"ACCEPTED": calapi.StatusAccepted, " Rejected ": calapi.StatusRejected,
		"CANCELLED": calapi.StatusCancelled, "canceled": calapi.StatusCancelled,
		"AWAITING_HOST": "awaiting_host", "": "",
	}
	for in, want := range tests {
		require.Equal(t, want, calapi.NormalizeStatus(in), "NormalizeStatus(%q)", in)
	}
}
