package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker"
	"github.com/creditgate/creditgate/worker/workertest"
)

// TestRateLimitSharedByThreeWorkerProcesses decides 1,000 bookings with an
// ingest and three worker processes against a fake Cal.com that allows 120
// calls a window, as Cal.com allows 120 a minute; creditgate's shared limit
// is 100 a window. The window is shortened from a minute to keep the test
// short; the arithmetic is the same.
func TestRateLimitSharedByThreeWorkerProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1,000 bookings through four processes: not in -short")
	}
	const (
		bookings = 1000
		window   = 300 * time.Millisecond
	)
	bin := buildBinary(t)
	fake := calapitest.NewServer(testAPIKey)
	t.Cleanup(fake.Close)
	fake.SetRateLimit(120, window)
	redisURL, ledgerURL := workertest.RedisURL(t), sharedLedgerURL(t)
	vars := map[string]string{
		"REDIS_URL": redisURL, "DATABASE_URL": ledgerURL,
		"CALCOM_API_URL": fake.URL, "CALCOM_API_KEY": testAPIKey, "CALCOM_WEBHOOK_SECRET": testSecret,
		"CALCOM_RATE_LIMIT": "100", "CALCOM_RATE_WINDOW": window.String(),
		"CREDITGATE_RECONCILE_INTERVAL": "0", "CREDITGATE_CONCURRENCY": "10",
	}
	l, err := openLedger(context.Background(), ledgerURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	_, err = l.Grant(context.Background(), "ada@example.com", bookings, credits.GrantOptions{Note: "load"})
	require.NoError(t, err)

	ingest := startCreditgate(t, bin, "ingest", vars)
	for range 3 {
		startCreditgate(t, bin, "worker", vars)
	}
	all := make([]calapi.Booking, bookings)
	for i := range all {
		all[i] = calapi.Booking{UID: fmt.Sprintf("load-%d", i), ID: int64(i + 1), Status: calapi.StatusPending,
			EventTypeID: 77, AttendeeEmail: "ada@example.com", Start: time.Now().Add(72 * time.Hour)}
		fake.AddBooking(all[i])
	}
	start := time.Now()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, bk := range all {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := calapitest.PostWebhook(context.Background(), http.DefaultClient, ingest.base+"/webhooks/calcom",
				testSecret, calapitest.WebhookBody(calapi.TriggerBookingRequested, bk, nil))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("webhook %s: %s", bk.UID, resp.Status)
				}
			}
		})
	}
	wg.Wait()
	acked := time.Since(start)
	waitSlowly(t, 3*time.Minute, func() bool {
		return len(fake.CallsTo(http.MethodPost, "/confirm")) >= bookings
	}, "1,000 confirms")
	decided := time.Since(start)

	for _, bk := range all {
		got, _ := fake.Booking(bk.UID)
		require.Equal(t, calapi.StatusAccepted, got.Status, bk.UID)
	}
	require.Len(t, fake.CallsTo(http.MethodPost, "/confirm"), bookings, "each booking confirmed once")
	bal, err := l.Balance(context.Background(), "ada@example.com")
	require.NoError(t, err)
	require.EqualValues(t, 0, bal, "each booking debited once")

	info, err := inspectorFor(t, redisURL).GetQueueInfo(worker.Queue)
	require.NoError(t, err)
	require.Zero(t, info.Failed, "a rate-limited call must not count as a failed attempt")
	require.Zero(t, info.Archived)
	calls := len(fake.Calls())
	t.Logf("1,000 bookings: acknowledged in %s, decided in %s; %d Cal.com calls (%.0f per %s, limit 120), %d answered 429",
		acked.Round(time.Millisecond), decided.Round(time.Millisecond), calls,
		float64(calls)/(decided.Seconds()/window.Seconds()), window, fake.RateLimited())
}
