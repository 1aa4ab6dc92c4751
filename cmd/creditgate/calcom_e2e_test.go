package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
)

func TestReconcilerDecidesBookingsWhoseWebhookWasLost(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, map[string]string{"CREDITGATE_RECONCILE_INTERVAL": "1s"})
			b.grant(t, "ada@example.com", 2)
			// Decided by its webhook first.
			hooked := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)
			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, hooked, nil))
			b.decided(t, hooked.UID)
			// Its webhook never arrives: only the reconciler can find it.
			lost := b.booking(uidFor(t, 2), "ada@example.com", 77, calapi.StatusPending)
			unfunded := b.booking(uidFor(t, 3), "stranger@example.com", 77, calapi.StatusPending)

			waitFor(t, 20*time.Second, func() bool {
				return b.status(lost.UID) == calapi.StatusAccepted && b.status(unfunded.UID) == calapi.StatusRejected
			}, "reconciler decisions")
			// Let a few more rounds pass: nothing is decided twice.
			waitFor(t, 10*time.Second, func() bool {
				return len(b.fake.CallsTo(http.MethodGet, "/v2/bookings")) >= 3
			}, "three reconcile rounds")
			require.Len(t, b.fake.CallsTo(http.MethodPost, "/confirm"), 2)
			require.Len(t, b.fake.CallsTo(http.MethodPost, "/decline"), 1)
			require.Equal(t, 2, b.entries(t, "ada@example.com", "debit"))
			require.EqualValues(t, 0, b.balance(t, "ada@example.com"))
		})
	}
}

func TestAPIv1EndToEndKeepsTheKeyOutOfLogs(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", map[string]string{"CALCOM_API_VERSION": "v1", "CREDITGATE_LOG_LEVEL": "debug"})
	b.grant(t, "ada@example.com", 1)
	ok := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)
	short := b.booking(uidFor(t, 2), "ada@example.com", 77, calapi.StatusPending)
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, ok, nil))
	require.Equal(t, "confirmed", b.decided(t, ok.UID).Decision)
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, short, nil))
	require.Equal(t, "declined", b.decided(t, short.UID).Decision)

	require.Equal(t, calapi.StatusAccepted, b.status(ok.UID))
	require.Equal(t, calapi.StatusCancelled, b.status(short.UID))
	patch := b.fake.CallsTo(http.MethodPatch, fmt.Sprintf("/v1/bookings/%d", ok.ID))
	require.Len(t, patch, 1)
	require.JSONEq(t, `{"status":"ACCEPTED"}`, string(patch[0].Body))
	cancels := b.fake.CallsTo(http.MethodDelete, fmt.Sprintf("/v1/bookings/%d/cancel", short.ID))
	require.Len(t, cancels, 1)
	require.Contains(t, cancels[0].Query.Get("cancellationReason"), "your balance is 0 credits")
	for _, c := range b.fake.Calls() {
		require.True(t, strings.HasPrefix(c.Path, "/v1/"), "a v2 call in v1 mode: %s", c.Path)
	}
	logs := b.stderr.String()
	require.Contains(t, logs, `"level":"DEBUG"`, "debug logs were captured")
	require.NotContains(t, logs, testAPIKey)
	require.NotContains(t, logs, "apiKey=")
}
