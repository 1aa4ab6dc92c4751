package calapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creditgate/creditgate/calapi"
)

func FuzzDecodeWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		if body, err := os.ReadFile(name); err == nil {
			f.Add(body)
		}
	}
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `{"triggerEvent":"PING"}`,
		`{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"u","bookingId":"1","startTime":1700000000000}}`,
		`{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u","eventTypeId":1e3,"endTime":"2024-01-01 10:00:00"}}`,
		`{"triggerEvent":"X","payload":{"responses":{"email":{"value":["a"]}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := calapi.DecodeWebhook(body)
		if err != nil {
			if !errors.Is(err, calapi.ErrNotWebhook) {
				t.Fatalf("error does not wrap ErrNotWebhook: %v", err)
			}
			return
		}
		if w.TriggerEvent == "" {
			t.Fatal("decoded a webhook without a trigger")
		}
		switch w.TriggerEvent {
		case calapi.TriggerBookingRequested, calapi.TriggerBookingCreated, calapi.TriggerBookingCancelled,
			calapi.TriggerBookingRejected, calapi.TriggerBookingRescheduled:
			if w.Payload.UID == "" {
				t.Fatalf("decoded %s without a uid", w.TriggerEvent)
			}
		}
		if w.Payload.BookingID < 0 || w.Payload.EventTypeID < 0 {
			t.Fatalf("negative id: %+v", w.Payload)
		}
		_ = w.Payload.BookerEmail()
	})
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("secret", []byte(`{"triggerEvent":"PING"}`), "")
	f.Add("secret", []byte(`{}`), calapi.NoSecretProvided)
	f.Add("", []byte(`{}`), calapi.Sign("", []byte(`{}`)))
	f.Add("s", []byte{0xff, 0}, strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		sig := calapi.Sign(secret, body)
		err := calapi.VerifySignature(secret, body, sig)
		if secret == "" {
			if !errors.Is(err, calapi.ErrBadSignature) {
				t.Fatalf("empty secret accepted or wrong error: %v", err)
			}
		} else if err != nil {
			t.Fatalf("Verify(Sign(x)) failed: %v", err)
		}
		err = calapi.VerifySignature(secret, body, header)
		if err == nil && !strings.EqualFold(header, sig) {
			t.Fatalf("accepted %q, signature is %q", header, sig)
		}
		if err != nil && !errors.Is(err, calapi.ErrBadSignature) {
			t.Fatalf("error does not wrap ErrBadSignature: %v", err)
		}
	})
}
