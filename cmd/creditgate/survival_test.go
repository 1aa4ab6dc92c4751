package main

// Crash and outage survival, with creditgate, Redis and PostgreSQL as real
// processes: a booking acknowledged with a 2xx is decided once, whatever
// dies on the way.

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker/workertest"
)

// survivalBundle wires processes to the harness's helpers (booking, post,
// grant, entries...) through a testBundle whose base is ingest's URL.
func survivalBundle(t *testing.T, ledgerURL string) *testBundle {
	t.Helper()
	fake := calapitest.NewServer(testAPIKey)
	t.Cleanup(fake.Close)
	l, err := openLedger(context.Background(), ledgerURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return &testBundle{fake: fake, ledger: l}
}

// roleVars is the environment of a creditgate role on this bundle. The
// reconciler is off: a booking these tests see decided was carried by the
// queue, not found again by listing Cal.com's pending bookings.
func (b *testBundle) roleVars(redisURL, ledgerURL string) map[string]string {
	return map[string]string{
		"REDIS_URL":                     redisURL,
		"DATABASE_URL":                  ledgerURL,
		"CALCOM_API_URL":                b.fake.URL,
		"CALCOM_API_KEY":                testAPIKey,
		"CALCOM_WEBHOOK_SECRET":         testSecret,
		"CREDITGATE_RECONCILE_INTERVAL": "0",
		"CALCOM_RATE_LIMIT":             "100000", // not what these tests are about
	}
}

// postAcked posts a BOOKING_REQUESTED and requires it queued (202).
func (b *testBundle) postAcked(t *testing.T, bk calapi.Booking) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil), "webhook for %s", bk.UID)
}

// debitsOf counts the debit entries of one booking uid.
func debitsOf(t *testing.T, l credits.Store, email, uid string) int {
	t.Helper()
	h, err := l.History(context.Background(), email)
	require.NoError(t, err)
	n := 0
	for _, e := range h {
		if e.Kind == credits.KindDebit && e.BookingUID == uid {
			n++
		}
	}
	return n
}

// okCalls counts the calls that changed something at the fake (2xx).
func okCalls(calls []calapitest.Call) int {
	n := 0
	for _, c := range calls {
		if c.Status/100 == 2 {
			n++
		}
	}
	return n
}

// TestSurvivalWorkerKilledMidDecision: a worker is SIGKILLed after it
// debited a booking, while Cal.com holds its confirm; another worker takes
// the task over once asynq sees the dead worker's lease expire. The booking
// ends confirmed once and debited once.
func TestSurvivalWorkerKilledMidDecision(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	redisURL, ledgerURL := workertest.RedisURL(t), sharedLedgerURL(t)
	b := survivalBundle(t, ledgerURL)
	const email = "ada@example.com"
	b.grant(t, email, 3)
	bk := b.booking(uidFor(t, 1), email, 77, calapi.StatusPending)
	// Long enough that the kill surely lands while the confirm is held,
	// short of the client's 10 s timeout.
	b.fake.SetDelay(http.MethodPost, "/confirm", 5*time.Second)

	vars := b.roleVars(redisURL, ledgerURL)
	b.base = startCreditgate(t, bin, "ingest", vars).base
	first := startCreditgate(t, bin, "worker", vars)

	b.postAcked(t, bk)
	waitFor(t, 30*time.Second, func() bool { return debitsOf(t, b.ledger, email, bk.UID) == 1 }, "the first worker's debit")
	time.Sleep(time.Second) // its confirm, sent right after the debit, is now held
	first.signal(t, syscall.SIGKILL, 10*time.Second)
	killed := time.Now()
	b.fake.SetDelay(http.MethodPost, "/confirm", 0)

	// The held confirm is dropped with its connection (the fake records
	// 499) and the booking stays pending; or the kill beat the request out.
	firstConfirm := "never sent"
	for range 20 {
		if calls := b.fake.CallsTo(http.MethodPost, "/confirm"); len(calls) > 0 {
			require.Equal(t, 499, calls[0].Status, "the first worker's confirm should have been cut by the kill")
			firstConfirm = "cut by the kill (499)"
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, calapi.StatusPending, b.status(bk.UID))

	// asynq gives a dead worker's task back once its lease (30 s) is 30 s
	// past, at a recoverer tick (each minute from a worker's start). The
	// second worker starts a few seconds after the kill so that its first
	// tick, a minute later, falls just after that point: the best case of
	// the 60-120 s a running fleet would take.
	time.Sleep(3*time.Second - time.Since(killed))
	startCreditgate(t, bin, "worker", vars)
	b.waitDecided(t, 150*time.Second, bk.UID)
	recovery := time.Since(killed)

	rec, err := b.ledger.GetBooking(context.Background(), bk.UID)
	require.NoError(t, err)
	require.Equal(t, "confirmed", rec.Decision, rec.Reason)
	require.Equal(t, calapi.StatusAccepted, b.status(bk.UID))
	require.Equal(t, 1, okCalls(b.fake.CallsTo(http.MethodPost, "/confirm")), "confirmed once at Cal.com")
	require.Equal(t, 1, debitsOf(t, b.ledger, email, bk.UID), "debited once")
	require.EqualValues(t, 2, b.balance(t, email))
	t.Logf("SIGKILL after the debit (first confirm %s) → booking settled by the second worker in %s (%s)",
		firstConfirm, recovery.Round(100*time.Millisecond), rec.Reason)
}

// TestSurvivalRedisOutage: Redis (append-only file, fsync always) is
// SIGKILLed with bookings queued and no worker taking them. While it is
// down, ingest answers 503 on webhooks and /readyz; once it is back, both
// recover without a restart and every booking acknowledged before the
// crash is decided.
func TestSurvivalRedisOutage(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	rs := startRedis(t)
	ledgerURL := sharedLedgerURL(t)
	b := survivalBundle(t, ledgerURL)
	const email = "bo@example.com"
	b.grant(t, email, 10)
	vars := b.roleVars(rs.URL(), ledgerURL)
	ingest := startCreditgate(t, bin, "ingest", vars)
	b.base = ingest.base
	w := startCreditgate(t, bin, "worker", vars)

	// A worker decides a first booking, then is frozen (SIGSTOP): what is
	// posted now stays queued in Redis.
	warm := b.booking(uidFor(t, 0), email, 77, calapi.StatusPending)
	b.postAcked(t, warm)
	b.waitDecided(t, 15*time.Second, warm.UID)
	w.signal(t, syscall.SIGSTOP, 0)
	var queued []calapi.Booking
	for i := 1; i <= 5; i++ {
		bk := b.booking(uidFor(t, i), email, 77, calapi.StatusPending)
		b.postAcked(t, bk)
		queued = append(queued, bk)
	}

	rs.kill(t)
	late := b.booking(uidFor(t, 6), email, 77, calapi.StatusPending)
	start := time.Now()
	require.Equal(t, http.StatusServiceUnavailable, b.post(t, calapi.TriggerBookingRequested, late, nil))
	unavailable := time.Since(start)
	require.Less(t, unavailable, 4*time.Second, "a 503 must not wait past ingest's 3 s enqueue bound")
	require.Equal(t, http.StatusServiceUnavailable, getStatus(ingest.base+"/readyz"))
	require.Equal(t, http.StatusOK, getStatus(ingest.base+"/healthz"), "alive, though not ready")

	rs.start(t)
	back := time.Now()
	waitFor(t, 30*time.Second, func() bool { return getStatus(ingest.base+"/readyz") == http.StatusOK }, "ingest /readyz after Redis returned")
	ready := time.Since(back)
	b.postAcked(t, late) // Cal.com's re-sent webhook, taken once Redis is back
	accepting := time.Since(back)

	w.signal(t, syscall.SIGCONT, 0)
	for _, bk := range append(queued, late) {
		b.waitDecided(t, 60*time.Second, bk.UID)
	}
	decidedAll := time.Since(back)
	waitFor(t, 30*time.Second, func() bool { return getStatus(w.base+"/readyz") == http.StatusOK }, "worker /readyz")

	for _, bk := range append(queued, late) {
		require.Equal(t, calapi.StatusAccepted, b.status(bk.UID), bk.UID)
		require.Equal(t, 1, debitsOf(t, b.ledger, email, bk.UID), bk.UID)
	}
	require.EqualValues(t, 10-7, b.balance(t, email))
	t.Logf("Redis down: webhook 503 in %s. Back: ingest ready in %s, taking webhooks in %s; all %d queued bookings decided %s after it returned",
		unavailable.Round(time.Millisecond), ready.Round(time.Millisecond), accepting.Round(time.Millisecond),
		len(queued)+1, decidedAll.Round(time.Millisecond))
}

// TestSurvivalPostgresOutage: PostgreSQL stops (immediate shutdown) while
// bookings are being decided and more arrive. Decisions fail and are
// retried by asynq; once PostgreSQL is back every booking is decided, none
// is debited twice and no balance goes below zero.
func TestSurvivalPostgresOutage(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	pg := startPostgres(t)
	b := survivalBundle(t, pg.URL())
	// rich can pay for everything; poor for two of its four bookings.
	const rich, poor = "cy@example.com", "di@example.com"
	b.grant(t, rich, 10)
	b.grant(t, poor, 2)
	serve := startCreditgate(t, bin, "serve", b.roleVars(workertest.RedisURL(t), pg.URL()))
	b.base = serve.base
	// Each decision starts by reading the booking at Cal.com: slow it so
	// that decisions are in flight when PostgreSQL stops.
	b.fake.SetDelay(http.MethodGet, "", 300*time.Millisecond)

	var all []calapi.Booking
	post := func(n int) {
		for range n {
			i := len(all)
			email := rich
			if i%2 == 1 {
				email = poor
			}
			bk := b.booking(uidFor(t, i), email, 77, calapi.StatusPending)
			b.postAcked(t, bk)
			all = append(all, bk)
			time.Sleep(50 * time.Millisecond)
		}
	}
	post(4)
	pg.stop(t)
	post(4)
	require.Equal(t, http.StatusServiceUnavailable, getStatus(serve.base+"/readyz"))
	time.Sleep(2 * time.Second) // the decisions meet the outage
	pg.start(t)
	back := time.Now()
	waitFor(t, 30*time.Second, func() bool { return getStatus(serve.base+"/readyz") == http.StatusOK }, "/readyz after PostgreSQL returned")
	ready := time.Since(back)

	// asynq's first retry comes 15-45 s after a failure.
	for _, bk := range all {
		b.waitDecided(t, 90*time.Second, bk.UID)
	}
	decidedAll := time.Since(back)

	retried := strings.Count(serve.stderr.String(), "decision failed, will retry")
	require.Positive(t, retried, "no decision met the outage: the test proved nothing")
	confirmed := map[string]int{}
	for _, bk := range all {
		rec, err := b.ledger.GetBooking(context.Background(), bk.UID)
		require.NoError(t, err)
		debits := debitsOf(t, b.ledger, bk.AttendeeEmail, bk.UID)
		switch st := b.status(bk.UID); st {
		case calapi.StatusAccepted:
			require.Equal(t, 1, debits, "%s accepted (%s: %s)", bk.UID, rec.Decision, rec.Reason)
			confirmed[bk.AttendeeEmail]++
		case calapi.StatusRejected:
			require.Equal(t, 0, debits, "%s declined (%s: %s)", bk.UID, rec.Decision, rec.Reason)
		default:
			t.Fatalf("%s is %s at Cal.com after decision %s", bk.UID, st, rec.Decision)
		}
	}
	require.Equal(t, map[string]int{rich: 4, poor: 2}, confirmed)
	for _, email := range []string{rich, poor} {
		h, err := b.ledger.History(context.Background(), email)
		require.NoError(t, err)
		for _, e := range h {
			require.GreaterOrEqual(t, e.BalanceAfter, int64(0), "%s went below zero: %+v", email, e)
		}
	}
	require.EqualValues(t, 6, b.balance(t, rich))
	require.EqualValues(t, 0, b.balance(t, poor))
	t.Logf("PostgreSQL back: /readyz ok in %s; all %d bookings decided %s after it returned (%d attempts failed and were retried)",
		ready.Round(time.Millisecond), len(all), decidedAll.Round(time.Millisecond), retried)
}

// waitDecided waits until creditgate recorded a decision for uid.
func (b *testBundle) waitDecided(t *testing.T, d time.Duration, uid string) {
	t.Helper()
	waitSlowly(t, d, func() bool {
		rec, err := b.ledger.GetBooking(context.Background(), uid)
		return err == nil && rec.Decision != ""
	}, "decision on "+uid)
}
