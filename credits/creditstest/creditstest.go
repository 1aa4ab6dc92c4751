// Package creditstest is the conformance suite of credits.Store: every
// backend runs Exercise against a real database of its kind, so the money
// rules of package credits hold the same way on each. It has table tests
// for every method, concurrency tests, property tests over random
// sequences of operations (pgregory.net/rapid), a race between OS
// processes (Processes, HelperProcess), and an upgrade of a database an
// older schema filled (Upgrade).
package creditstest

import (
	"context"
	"flag"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

// Opener returns a fresh, empty Store that reads the time from now, and
// closes it when t ends. Each call must give a Store no other call sees
// (its own file, its own schema), since the suite runs tests in parallel.
type Opener func(t *testing.T, now func() time.Time) credits.Store

// Exercise runs the whole suite against the Stores open returns.
func Exercise(t *testing.T, open Opener) {
	t.Helper()
	limitRapidChecks()
	cases := []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"Grant", testGrant},
		{"GrantRef", testGrantRef},
		{"Balance", testBalance},
		{"History", testHistory},
		{"Alias", testAlias},
		{"Adjust", testAdjust},
		{"Record", testRecord},
		{"Debit", testDebit},
		{"DebitOrder", testDebitOrder},
		{"Refund", testRefund},
		{"RefundExpired", testRefundExpired},
		{"Forfeit", testForfeit},
		{"Move", testMove},
		{"MoveOntoDebited", testMoveOntoDebited},
		{"Prices", testPrices},
		{"Bookings", testBookings},
		{"Ping", testPing},
		{"DeadLetters", testDeadLetters},
		{"DeadLetterList", testDeadLetterList},
		{"DeadLetterPayload", testDeadLetterPayload},
		{"ConcurrentDeadLetters", testConcurrentDeadLetters},
		{"ConcurrentDistinct", testConcurrentDistinct},
		{"ConcurrentSameUID", testConcurrentSameUID},
		{"ConcurrentSameUIDMembers", testConcurrentSameUIDMembers},
		{"ConcurrentRefund", testConcurrentRefund},
		{"ConcurrentGrantRef", testConcurrentGrantRef},
		{"Property", testProperty},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open)
		})
	}
}

// bundle is what a test works with.
type bundle struct {
	ctx   context.Context
	s     credits.Store
	clock *clock
}

func setup(t *testing.T, open Opener) *bundle {
	t.Helper()
	c := newClock()
	return &bundle{ctx: t.Context(), s: open(t, c.Now), clock: c}
}

// clock is a settable time; it starts at a fixed instant so that runs
// repeat.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// at is the clock's time plus d, as a pointer for GrantOptions.ExpiresAt.
func (c *clock) at(d time.Duration) *time.Time {
	t := c.Now().Add(d)
	return &t
}

func (b *bundle) grant(t *testing.T, email string, amount int64, expiresIn time.Duration) credits.Entry {
	t.Helper()
	var opts credits.GrantOptions
	if expiresIn != 0 {
		opts.ExpiresAt = b.clock.at(expiresIn)
	}
	e, err := b.s.Grant(b.ctx, email, amount, opts)
	require.NoError(t, err)
	return e
}

func (b *bundle) debit(t *testing.T, email, uid string, amount int64) credits.DebitResult {
	t.Helper()
	res, err := b.s.Debit(b.ctx, credits.Debit{Email: email, BookingUID: uid, Amount: amount})
	require.NoError(t, err)
	return res
}

func (b *bundle) balance(t *testing.T, email string) int64 {
	t.Helper()
	bal, err := b.s.Balance(b.ctx, email)
	require.NoError(t, err)
	return bal
}

func (b *bundle) history(t *testing.T, email string) []credits.Entry {
	t.Helper()
	es, err := b.s.History(b.ctx, email)
	require.NoError(t, err)
	return es
}

// requireConsistent checks a member's ledger adds up: each entry's
// balance_after is the running sum of amounts, never negative, and the
// last one is the balance.
func requireConsistent(t require.TestingT, ctx context.Context, s credits.Store, email string) int64 {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	es, err := s.History(ctx, email)
	require.NoError(t, err)
	bal, err := s.Balance(ctx, email)
	require.NoError(t, err)
	var sum int64
	for i, e := range es {
		sum += e.Amount
		require.Equal(t, sum, e.BalanceAfter, "entry %d (%s %d) balance_after", i, e.Kind, e.Amount)
		require.GreaterOrEqual(t, e.BalanceAfter, int64(0), "entry %d", i)
		if i > 0 {
			require.Greater(t, e.ID, es[i-1].ID, "entries oldest first")
		}
	}
	require.Equal(t, sum, bal, "balance is the sum of the entries")
	return bal
}

// kinds lists the kinds of entries, for compact assertions.
func kinds(es []credits.Entry) []credits.Kind {
	out := make([]credits.Kind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

var rapidOnce sync.Once

// limitRapidChecks lowers rapid's default of 100 runs per property, each a
// few dozen operations on a real database, to keep the suite near a
// minute on a small machine. -rapid.checks or RAPID_CHECKS still win.
func limitRapidChecks() {
	rapidOnce.Do(func() {
		if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
			return
		}
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
		if !set && flag.Lookup("rapid.checks") != nil {
			_ = flag.Set("rapid.checks", "25")
		}
	})
}
