package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/credits"
)

func TestServeConfirmsFundedBooker(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, nil)
			b.grant(t, "Ada@Example.com ", 2)
			bk := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)

			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))
			rec := b.decided(t, bk.UID)

			require.Equal(t, "confirmed", rec.Decision)
			require.Equal(t, calapi.StatusAccepted, b.status(bk.UID))
			require.Len(t, b.fake.CallsTo(http.MethodPost, "/confirm"), 1)
			require.Empty(t, b.fake.CallsTo(http.MethodPost, "/decline"))
			require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
			require.Equal(t, 1, b.entries(t, "ada@example.com", credits.KindDebit))
			require.NotContains(t, b.stderr.String(), testAPIKey, "the API key reached a log line")
		})
	}
}

func TestServeDeclinesUnfundedBooker(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, map[string]string{"CREDITGATE_DEFAULT_COST": "2"})
			b.grant(t, "cy@example.com", 1)
			unknown := b.booking(uidFor(t, 1), "nobody@example.com", 77, calapi.StatusPending)
			short := b.booking(uidFor(t, 2), "cy@example.com", 77, calapi.StatusPending)

			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, unknown, nil))
			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, short, nil))
			require.Equal(t, "declined", b.decided(t, unknown.UID).Decision)
			require.Equal(t, "declined", b.decided(t, short.UID).Decision)

			require.Equal(t, calapi.StatusRejected, b.status(unknown.UID))
			require.Equal(t, calapi.StatusRejected, b.status(short.UID))
			declines := b.fake.CallsTo(http.MethodPost, "/decline")
			require.Len(t, declines, 2)
			reasons := string(declines[0].Body) + string(declines[1].Body)
			require.Contains(t, reasons, "your balance is 0 credits and this session costs 2 credits")
			require.Contains(t, reasons, "your balance is 1 credit and this session costs 2 credits")
			require.Empty(t, b.fake.CallsTo(http.MethodPost, "/confirm"))
			require.EqualValues(t, 1, b.balance(t, "cy@example.com"), "a declined booking must not be charged")
		})
	}
}

func TestServeSameWebhookFiveTimesConcurrently(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, nil)
			b.grant(t, "ada@example.com", 5)
			bk := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)

			codes := make([]int, 5)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() { codes[i] = b.post(t, calapi.TriggerBookingRequested, bk, nil) })
			}
			wg.Wait()
			for _, c := range codes {
				require.True(t, c == http.StatusAccepted || c == http.StatusOK, "status %d", c)
			}
			b.decided(t, bk.UID)
			// Give any wrongly queued second decision the time to happen.
			time.Sleep(300 * time.Millisecond)

			require.Len(t, b.fake.CallsTo(http.MethodPost, "/confirm"), 1)
			require.Equal(t, 1, b.entries(t, "ada@example.com", credits.KindDebit))
			require.EqualValues(t, 4, b.balance(t, "ada@example.com"))
		})
	}
}

func TestServeTenConcurrentBookingsAgainstBalanceOfThree(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, nil)
			b.grant(t, "ada@example.com", 3)
			var bookings []calapi.Booking
			for i := range 10 {
				bookings = append(bookings, b.booking(uidFor(t, i), "ada@example.com", 77, calapi.StatusPending))
			}
			var wg sync.WaitGroup
			for _, bk := range bookings {
				wg.Go(func() { require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil)) })
			}
			wg.Wait()
			counts := map[string]int{}
			for _, bk := range bookings {
				b.decided(t, bk.UID)
				counts[b.status(bk.UID)]++
			}
			require.Equal(t, map[string]int{calapi.StatusAccepted: 3, calapi.StatusRejected: 7}, counts)
			require.Len(t, b.fake.CallsTo(http.MethodPost, "/confirm"), 3)
			require.Len(t, b.fake.CallsTo(http.MethodPost, "/decline"), 7)
			require.EqualValues(t, 0, b.balance(t, "ada@example.com"))
			require.Equal(t, 3, b.entries(t, "ada@example.com", credits.KindDebit))
		})
	}
}

func TestServeLeavesAcceptedBookingAlone(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, nil)
			// The host confirmed it by hand before creditgate got to it.
			bk := b.booking(uidFor(t, 1), "fay@example.com", 77, calapi.StatusAccepted)
			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))
			rec := b.decided(t, bk.UID)

			require.Equal(t, "override", rec.Decision)
			require.Contains(t, rec.Reason, "admitted by host without credit")
			require.Equal(t, calapi.StatusAccepted, b.status(bk.UID))
			for _, c := range b.fake.Calls() {
				require.Equal(t, http.MethodGet, c.Method, "creditgate acted on an accepted booking: %s %s", c.Method, c.Path)
			}
			require.Equal(t, 1, b.entries(t, "fay@example.com", credits.KindOverride))
		})
	}
}

func TestServeOwnConfirmEchoIsNotChargedTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	b.grant(t, "ada@example.com", 3)
	bk := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))
	b.decided(t, bk.UID)
	require.Equal(t, calapi.StatusAccepted, b.status(bk.UID))

	// Cal.com answers our confirm with BOOKING_CREATED.
	bk.Status = calapi.StatusAccepted
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingCreated, bk, nil))
	waitFor(t, 10*time.Second, func() bool {
		r, err := b.ledger.GetBooking(context.Background(), bk.UID)
		return err == nil && r.Decision == "nothing"
	}, "echo settled")
	require.Equal(t, 1, b.entries(t, "ada@example.com", credits.KindDebit))
	require.EqualValues(t, 2, b.balance(t, "ada@example.com"))
	require.Empty(t, b.fake.CallsTo(http.MethodPost, "/cancel"))
}

func TestServeBannerOnFreshStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"CREDITGATE_LISTEN": "127.0.0.1:0", "DATABASE_URL": "sqlite:" + dir + "/creditgate.db"}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	base := startRun(t, []string{"serve"}, vars, stdout, stderr)
	out := stdout.String()
	require.Contains(t, out, "/webhooks/calcom")
	require.Contains(t, out, "NOT DURABLE")
	require.Contains(t, out, "SHADOW MODE")
	require.Contains(t, out, "ledger: sqlite:")
	// The generated secret is printed once, kept beside the ledger, and
	// webhooks signed with it are accepted.
	secret, err := loadSecret("", vars["DATABASE_URL"])
	require.NoError(t, err)
	require.False(t, secret.generated)
	require.Contains(t, out, secret.value)
	require.True(t, strings.HasPrefix(secret.source, dir))

	resp, err := http.Post(base+"/webhooks/calcom", "application/json", strings.NewReader(`{"triggerEvent":"PING","payload":{}}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestHostConfirmBeforeTheRequestIsDecidedIsNeverCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	// The request's decision keeps failing (Cal.com 502s), so it waits in
	// the retry set while the host confirms the booking by hand.
	bk := b.booking(uidFor(t, 1), "broke@example.com", 77, calapi.StatusPending)
	b.fake.FailNext(1, http.MethodGet, "/"+bk.UID, http.StatusBadGateway, "BadGateway", "upstream")
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))
	waitFor(t, 10*time.Second, func() bool { return len(b.fake.CallsTo(http.MethodGet, "/"+bk.UID)) >= 1 }, "first attempt")
	b.fake.SetStatus(bk.UID, calapi.StatusAccepted)
	bk.Status = calapi.StatusAccepted
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingCreated, bk, nil))
	rec := b.decided(t, bk.UID)
	require.Equal(t, "override", rec.Decision, rec.Reason)
	require.Empty(t, b.fake.CallsTo(http.MethodPost, "/cancel"), "a booking the host accepted is never cancelled")
	require.Equal(t, calapi.StatusAccepted, b.status(bk.UID))
}
