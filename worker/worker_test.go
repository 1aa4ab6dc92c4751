package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/sqlite"
	"github.com/creditgate/creditgate/worker"
)

const apiKey = "worker-test-key"

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

type testBundle struct {
	fake      *calapitest.Server
	ledger    credits.Store
	handler   *worker.Handler
	decisions []worker.Decision
}

func setup(t *testing.T, shadow bool) *testBundle {
	t.Helper()
	fake := calapitest.NewServer(apiKey)
	t.Cleanup(fake.Close)
	l, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	b := &testBundle{fake: fake, ledger: l}
	cfg := worker.Config{Ledger: l, DefaultCost: 1, LateCancelWindow: 24 * time.Hour,
		Now: func() time.Time { return now }, Observe: func(d worker.Decision) { b.decisions = append(b.decisions, d) }}
	if !shadow {
		cfg.Cal = calapi.NewClient(fake.URL, apiKey, calapi.Options{RetryMax: -1, Timeout: 2 * time.Second})
	}
	b.handler = worker.New(cfg)
	return b
}

// bk is a booking at the fake starting in 72 hours.
func (b *testBundle) bk(uid, email string, eventType int64, status string) calapi.Booking {
	x := calapi.Booking{UID: uid, ID: 1, Status: status, EventTypeID: eventType, AttendeeEmail: email,
		Start: now.Add(72 * time.Hour), End: now.Add(73 * time.Hour)}
	b.fake.AddBooking(x)
	return x
}

// handle runs one task the way asynq would, built from a webhook body.
func (b *testBundle) handle(t *testing.T, trigger string, x calapi.Booking, extra map[string]any) error {
	t.Helper()
	wh, err := calapi.DecodeWebhook(calapitest.WebhookBody(trigger, x, extra))
	require.NoError(t, err)
	bt, ok := worker.TaskFromWebhook(wh, "webhook", now)
	require.True(t, ok)
	task, err := worker.NewBookingTask(bt)
	require.NoError(t, err)
	return b.handler.Mux().ProcessTask(context.Background(), task)
}

func (b *testBundle) last(t *testing.T) worker.Decision {
	t.Helper()
	require.NotEmpty(t, b.decisions, "no decision was made")
	return b.decisions[len(b.decisions)-1]
}

func (b *testBundle) balance(t *testing.T, email string) int64 {
	t.Helper()
	n, err := b.ledger.Balance(context.Background(), email)
	require.NoError(t, err)
	return n
}

func (b *testBundle) grant(t *testing.T, email string, n int64) {
	t.Helper()
	_, err := b.ledger.Grant(context.Background(), email, n, credits.GrantOptions{})
	require.NoError(t, err)
}

func (b *testBundle) actions() []string {
	var out []string
	for _, c := range b.fake.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, c.Method+" "+c.Path)
		}
	}
	return out
}

func TestRequestedFundedIsDebitedThenConfirmed(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 2)
	x := b.bk("u1", "ADA@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	require.Equal(t, []string{"POST /v2/bookings/u1/confirm"}, b.actions())
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))

	// Run again (a retry after a crash): nothing more is charged or called.
	b.fake.SetStatus("u1", calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
	require.Contains(t, b.last(t).Reason, "already debited")
}

func TestRequestedShortOrUnknownIsDeclinedWithReason(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	require.NoError(t, b.ledger.SetPrice(context.Background(), 9, 3))
	b.grant(t, "cy@example.com", 2)
	for _, email := range []string{"cy@example.com", "stranger@example.com"} {
		x := b.bk("u-"+email, email, 9, calapi.StatusPending)
		require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
		d := b.last(t)
		require.Equal(t, worker.OutcomeDeclined, d.Outcome)
		require.Contains(t, d.Reason, "this session costs 3 credits")
		got, _ := b.fake.Booking(x.UID)
		require.Equal(t, calapi.StatusRejected, got.Status)
	}
	calls := b.fake.CallsTo(http.MethodPost, "/decline")
	require.Len(t, calls, 2)
	var body struct{ Reason string }
	require.NoError(t, json.Unmarshal(calls[0].Body, &body))
	require.Contains(t, body.Reason, "your balance is 2 credits")
	require.NoError(t, json.Unmarshal(calls[1].Body, &body))
	require.Contains(t, body.Reason, "your balance is 0 credits")
	require.EqualValues(t, 2, b.balance(t, "cy@example.com"))
}

func TestFreeEventTypeConfirmsAnyoneWithoutEntry(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	require.NoError(t, b.ledger.SetPrice(context.Background(), 3, 0))
	x := b.bk("free", "stranger@example.com", 3, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	h, err := b.ledger.History(context.Background(), "stranger@example.com")
	require.NoError(t, err)
	require.Empty(t, h)
}

func TestRequestedButAcceptedByHost(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "fay@example.com", 1)
	funded := b.bk("host-1", "fay@example.com", 5, calapi.StatusAccepted)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, funded, nil))
	require.Equal(t, worker.OutcomeOverride, b.last(t).Outcome)
	require.EqualValues(t, 0, b.balance(t, "fay@example.com"), "host override debits when the balance allows")

	short := b.bk("host-2", "fay@example.com", 5, calapi.StatusAccepted)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, short, nil))
	require.Equal(t, worker.OutcomeOverride, b.last(t).Outcome)
	require.Contains(t, b.last(t).Reason, "admitted by host without credit")
	require.Empty(t, b.actions(), "a booking the host accepted is never cancelled")
}

func TestRequestedButRejectedRefundsAnyDebit(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 1)
	x := b.bk("rej", "ada@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	require.EqualValues(t, 0, b.balance(t, "ada@example.com"))
	b.fake.SetStatus("rej", calapi.StatusRejected)
	require.NoError(t, b.handle(t, calapi.TriggerBookingCreated, calapi.Booking{UID: "rej", ID: 1, Status: calapi.StatusPending,
		EventTypeID: 5, AttendeeEmail: "ada@example.com"}, nil))
	require.Equal(t, worker.OutcomeRefunded, b.last(t).Outcome)
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
}

func TestCreatedAcceptedNeverSeenPending(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "gus@example.com", 1)
	paid := b.bk("c1", "gus@example.com", 5, calapi.StatusAccepted)
	require.NoError(t, b.handle(t, calapi.TriggerBookingCreated, paid, nil))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	require.EqualValues(t, 0, b.balance(t, "gus@example.com"))

	short := b.bk("c2", "gus@example.com", 5, calapi.StatusAccepted)
	require.NoError(t, b.handle(t, calapi.TriggerBookingCreated, short, nil))
	require.Equal(t, worker.OutcomeCancelled, b.last(t).Outcome)
	got, _ := b.fake.Booking("c2")
	require.Equal(t, calapi.StatusCancelled, got.Status)
	require.Equal(t, []string{"POST /v2/bookings/c2/cancel"}, b.actions())

	// The echo of an already debited booking does nothing.
	require.NoError(t, b.handle(t, calapi.TriggerBookingCreated, paid, nil))
	require.Equal(t, worker.OutcomeNothing, b.last(t).Outcome)
	require.Len(t, b.actions(), 1)
}

func TestCancellationsRefundOrForfeit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		trigger     string
		start       time.Duration // from now
		cancelledBy string
		want        worker.Outcome
		balance     int64
	}{
		{"host cancels", calapi.TriggerBookingCancelled, 2 * time.Hour, "host@bookclub.example", worker.OutcomeRefunded, 1},
		{"no cancelledBy is the host's", calapi.TriggerBookingCancelled, 2 * time.Hour, "", worker.OutcomeRefunded, 1},
		{"booker cancels in time", calapi.TriggerBookingCancelled, 72 * time.Hour, "ada@example.com", worker.OutcomeRefunded, 1},
		{"booker cancels late", calapi.TriggerBookingCancelled, 2 * time.Hour, "ADA@example.com", worker.OutcomeForfeited, 0},
		{"host rejects", calapi.TriggerBookingRejected, 2 * time.Hour, "ada@example.com", worker.OutcomeRefunded, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, false)
			b.grant(t, "ada@example.com", 1)
			x := calapi.Booking{UID: "cx", ID: 1, Status: calapi.StatusPending, EventTypeID: 5, AttendeeEmail: "ada@example.com",
				Start: now.Add(tt.start), End: now.Add(tt.start + time.Hour)}
			b.fake.AddBooking(x)
			require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
			require.EqualValues(t, 0, b.balance(t, "ada@example.com"))

			x.Status = calapi.StatusCancelled
			extra := map[string]any{}
			if tt.cancelledBy != "" {
				extra["cancelledBy"] = tt.cancelledBy
			}
			require.NoError(t, b.handle(t, tt.trigger, x, extra))
			require.Equal(t, tt.want, b.last(t).Outcome)
			require.Equal(t, tt.balance, b.balance(t, "ada@example.com"))
			// A second delivery changes nothing.
			require.NoError(t, b.handle(t, tt.trigger, x, extra))
			require.Equal(t, tt.balance, b.balance(t, "ada@example.com"))
		})
	}
}

func TestReschedulesCarryTheDebit(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 1)
	first := b.bk("r1", "ada@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, first, nil))
	require.EqualValues(t, 0, b.balance(t, "ada@example.com"))

	// A requires-confirmation reschedule: a new BOOKING_REQUESTED naming r1.
	second := b.bk("r2", "ada@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, second, map[string]any{"rescheduleUid": "r1"}))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	got, _ := b.fake.Booking("r2")
	require.Equal(t, calapi.StatusAccepted, got.Status)

	// BOOKING_RESCHEDULED of the new uid moves it again.
	third := b.bk("r3", "ada@example.com", 5, calapi.StatusAccepted)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRescheduled, third, map[string]any{"rescheduleUid": "r2"}))
	require.Equal(t, worker.OutcomeMoved, b.last(t).Outcome)
	require.EqualValues(t, 0, b.balance(t, "ada@example.com"), "no second charge, no free booking")

	_, err := b.ledger.LiveDebit(context.Background(), "r3")
	require.NoError(t, err)
	_, err = b.ledger.LiveDebit(context.Background(), "r1")
	require.ErrorIs(t, err, credits.ErrNotFound)
}

func TestConfirmRefusedBecauseBookingMovedOn(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 1)
	x := b.bk("moved", "ada@example.com", 5, calapi.StatusPending)
	// Between our read and our confirm, the booker cancels.
	b.fake.FailNext(1, http.MethodPost, "/confirm", http.StatusBadRequest, "BadRequestException", "booking is not pending")
	b.fake.OnCall(func(c calapitest.Call) {
		if c.Method == http.MethodPost {
			b.fake.SetStatus("moved", calapi.StatusCancelled)
		}
	})
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	require.Equal(t, worker.OutcomeRefunded, b.last(t).Outcome)
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
}

func TestCalErrorsMapToRetryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		permanent bool
		failure   bool
		balance   int64
	}{
		{"server error retries, debit kept", http.StatusInternalServerError, false, true, 0},
		{"unauthorized is permanent, debit given back", http.StatusUnauthorized, true, true, 1},
		{"not found is permanent", http.StatusNotFound, true, true, 1},
		{"rate limited is not a failure", http.StatusTooManyRequests, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, false)
			b.grant(t, "ada@example.com", 1)
			x := b.bk("e1", "ada@example.com", 5, calapi.StatusPending)
			b.fake.FailNext(1, http.MethodPost, "/confirm", tt.status, "Err", "scripted failure")
			err := b.handle(t, calapi.TriggerBookingRequested, x, nil)
			require.Error(t, err)
			require.Equal(t, tt.permanent, errors.Is(err, asynq.SkipRetry), err.Error())
			require.Equal(t, tt.failure, worker.IsFailure(err))
			require.Equal(t, tt.balance, b.balance(t, "ada@example.com"))
			require.NotContains(t, err.Error(), apiKey)
			if tt.status == http.StatusTooManyRequests {
				require.GreaterOrEqual(t, worker.RetryDelay(0, err, nil), time.Second)
			}
			if !tt.permanent {
				// The retry confirms without a second charge.
				require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
				require.EqualValues(t, 0, b.balance(t, "ada@example.com"))
				require.Len(t, b.fake.CallsTo(http.MethodPost, "/confirm"), 2)
			}
		})
	}
}

func TestShadowModeCallsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.grant(t, "ada@example.com", 1)
	ok := b.bk("s1", "ada@example.com", 5, calapi.StatusPending)
	short := b.bk("s2", "ada@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, ok, nil))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	require.True(t, b.last(t).Shadow)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, short, nil))
	require.Equal(t, worker.OutcomeDeclined, b.last(t).Outcome)
	require.Empty(t, b.fake.Calls())
	rec, err := b.ledger.GetBooking(context.Background(), "s2")
	require.NoError(t, err)
	require.Equal(t, "declined", rec.Decision)
}

func TestMalformedTaskIsNotRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	err := b.handler.Mux().ProcessTask(context.Background(), asynq.NewTask(worker.TypeBookingRequested, []byte("{not json")))
	require.ErrorIs(t, err, asynq.SkipRetry)
}

func TestRetryHorizonStopsAtTheBookingStart(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 2)
	started := calapi.Booking{UID: "h1", ID: 1, Status: calapi.StatusPending, EventTypeID: 5,
		AttendeeEmail: "ada@example.com", Start: now.Add(-time.Minute), End: now.Add(time.Hour)}
	b.fake.AddBooking(started)
	future := b.bk("h2", "ada@example.com", 5, calapi.StatusPending)
	for _, x := range []calapi.Booking{started, future} {
		b.fake.FailNext(1, http.MethodPost, "/confirm", http.StatusBadGateway, "BadGateway", "upstream down")
		err := b.handle(t, calapi.TriggerBookingRequested, x, nil)
		require.Error(t, err)
		require.Equal(t, x.UID == "h1", errors.Is(err, asynq.SkipRetry), err.Error())
	}
	// The started booking was never confirmed: its debit is given back;
	// the future one keeps its debit for the retry.
	_, err := b.ledger.LiveDebit(context.Background(), "h1")
	require.ErrorIs(t, err, credits.ErrNotFound)
	_, err = b.ledger.LiveDebit(context.Background(), "h2")
	require.NoError(t, err)
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
}

func TestAbandonGivesBackOnlyWhatCalComDidNotAccept(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 2)
	for _, uid := range []string{"ab-accepted", "ab-pending"} {
		x := b.bk(uid, "ada@example.com", 5, calapi.StatusPending)
		require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	}
	b.fake.SetStatus("ab-pending", calapi.StatusPending) // as if our confirm never landed
	for _, uid := range []string{"ab-accepted", "ab-pending"} {
		bt := worker.BookingTask{Trigger: calapi.TriggerBookingRequested, UID: uid, BookingID: 1}
		task, err := worker.NewBookingTask(bt)
		require.NoError(t, err)
		require.NoError(t, b.handler.Abandon(context.Background(), task, "given up"))
	}
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
	_, err := b.ledger.LiveDebit(context.Background(), "ab-accepted")
	require.NoError(t, err, "an accepted booking keeps its debit")
}

func TestLateCancelIsJudgedWhenTheCancellationArrived(t *testing.T) {
	t.Parallel()
	b := setup(t, false) // now is fixed; the window is 24h
	b.grant(t, "ada@example.com", 1)
	x := calapi.Booking{UID: "lc", ID: 1, Status: calapi.StatusPending, EventTypeID: 5, AttendeeEmail: "ada@example.com",
		Start: now.Add(23 * time.Hour), End: now.Add(24 * time.Hour)}
	b.fake.AddBooking(x)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, x, nil))
	// Cancelled 25 hours ahead, decided two hours later (an outage, a replay).
	start := x.Start
	task, err := worker.NewBookingTask(worker.BookingTask{Trigger: calapi.TriggerBookingCancelled, UID: "lc",
		Email: "ada@example.com", CancelledBy: "ada@example.com", StartTime: &start, ReceivedAt: now.Add(-2 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, b.handler.Mux().ProcessTask(context.Background(), task))
	require.Equal(t, worker.OutcomeRefunded, b.last(t).Outcome)
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
}

func TestNetworkErrorsAndTimeoutsAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 1)
	x := b.bk("slow", "ada@example.com", 5, calapi.StatusPending)
	// Slower than the client's 2 s timeout.
	b.fake.SetDelay(http.MethodGet, "/slow", 3*time.Second)
	err := b.handle(t, calapi.TriggerBookingRequested, x, nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, asynq.SkipRetry), "a timeout is worth retrying: %v", err)
	require.True(t, worker.IsFailure(err))
	require.EqualValues(t, 1, b.balance(t, "ada@example.com"), "nothing is debited before Cal.com answers")

	// Nobody listening at all.
	dead := worker.New(worker.Config{Ledger: b.ledger, DefaultCost: 1,
		Cal: calapi.NewClient("http://127.0.0.1:1", apiKey, calapi.Options{RetryMax: -1, Timeout: time.Second})})
	wh, derr := calapi.DecodeWebhook(calapitest.WebhookBody(calapi.TriggerBookingRequested, x, nil))
	require.NoError(t, derr)
	bt, _ := worker.TaskFromWebhook(wh, "webhook", now)
	task, terr := worker.NewBookingTask(bt)
	require.NoError(t, terr)
	err = dead.Mux().ProcessTask(context.Background(), task)
	require.Error(t, err)
	require.False(t, errors.Is(err, asynq.SkipRetry), "a refused connection is worth retrying: %v", err)
	require.NotContains(t, err.Error(), apiKey)
}

func TestBackoffGrowsQuicklyAndIsBounded(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, worker.Backoff(0), time.Second)
	require.LessOrEqual(t, worker.Backoff(0), 1250*time.Millisecond)
	require.GreaterOrEqual(t, worker.Backoff(3), 8*time.Second)
	var total time.Duration
	for n := range worker.MaxRetry {
		d := worker.Backoff(n)
		require.LessOrEqual(t, d, 12*time.Minute+30*time.Second, "retry %d", n)
		total += d
	}
	require.Greater(t, total, time.Hour, "the retries outlast an outage of an hour")
	err := &calapi.APIError{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}
	require.GreaterOrEqual(t, worker.RetryDelay(5, err, nil), 7*time.Second)
	require.Less(t, worker.RetryDelay(5, err, nil), 8*time.Second)
	require.Equal(t, time.Second, worker.RetryDelay(0, asynq.ErrLeaseExpired, nil))
}

func TestRescheduleFoundWithoutItsWebhookCarriesTheDebit(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.grant(t, "ada@example.com", 1)
	first := b.bk("rf1", "ada@example.com", 5, calapi.StatusPending)
	require.NoError(t, b.handle(t, calapi.TriggerBookingRequested, first, nil))
	// The reschedule's webhook was lost; the reconciler's task knows only
	// the uid, and Cal.com says which booking it reschedules.
	second := calapi.Booking{UID: "rf2", ID: 2, Status: calapi.StatusPending, EventTypeID: 5,
		AttendeeEmail: "ada@example.com", Start: now.Add(48 * time.Hour), RescheduledFromUID: "rf1"}
	b.fake.AddBooking(second)
	task, err := worker.NewBookingTask(worker.BookingTask{Trigger: calapi.TriggerBookingRequested, UID: "rf2",
		Source: "reconciler"})
	require.NoError(t, err)
	require.NoError(t, b.handler.Mux().ProcessTask(context.Background(), task))
	require.Equal(t, worker.OutcomeConfirmed, b.last(t).Outcome)
	require.Contains(t, b.last(t).Reason, "rescheduled from rf1")
	require.EqualValues(t, 0, b.balance(t, "ada@example.com"), "no second charge")
	_, err = b.ledger.LiveDebit(context.Background(), "rf2")
	require.NoError(t, err)
}
