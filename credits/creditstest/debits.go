package creditstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

func testDebit(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	for _, tc := range []struct {
		name string
		d    credits.Debit
	}{
		{"zero amount", credits.Debit{Email: ann, BookingUID: "uid-1", Amount: 0}},
		{"negative amount", credits.Debit{Email: ann, BookingUID: "uid-1", Amount: -2}},
		{"empty uid", credits.Debit{Email: ann, Amount: 1}},
		{"empty email", credits.Debit{BookingUID: "uid-1", Amount: 1}},
	} {
		_, err := b.s.Debit(b.ctx, tc.d)
		require.ErrorIs(t, err, credits.ErrInvalid, tc.name)
	}

	var short *credits.InsufficientError
	_, err := b.s.Debit(b.ctx, credits.Debit{Email: "nobody@example.com", BookingUID: "uid-0", Amount: 2})
	require.ErrorAs(t, err, &short)
	require.Equal(t, credits.InsufficientError{Email: "nobody@example.com", Balance: 0, Cost: 2}, *short)
	require.Empty(t, b.history(t, "nobody@example.com"))

	b.grant(t, ann, 3, 0)
	_, err = b.s.Debit(b.ctx, credits.Debit{Email: ann, BookingUID: "uid-1", Amount: 5})
	require.ErrorIs(t, err, credits.ErrInsufficient)
	require.ErrorAs(t, err, &short)
	require.Equal(t, int64(3), short.Balance)
	require.Len(t, b.history(t, ann), 1, "a refused debit writes nothing")
	_, err = b.s.LiveDebit(b.ctx, "uid-1")
	require.ErrorIs(t, err, credits.ErrNotFound)

	res, err := b.s.Debit(b.ctx, credits.Debit{Email: "ANN@example.com", BookingUID: "uid-1", Amount: 2, Note: "session"})
	require.NoError(t, err)
	require.False(t, res.Already)
	require.Equal(t, int64(1), res.Balance)
	e := res.Entry
	require.Equal(t, credits.Entry{ID: e.ID, Email: ann, Kind: credits.KindDebit, Amount: -2, BalanceAfter: 1,
		BookingUID: "uid-1", Note: "session", CreatedAt: b.clock.Now()}, e)
	live, err := b.s.LiveDebit(b.ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, e, live)

	// Again, for any amount and even with no credit left: the first debit.
	b.debit(t, ann, "uid-2", 1)
	again := b.debit(t, ann, "uid-1", 7)
	require.True(t, again.Already)
	require.Equal(t, e, again.Entry)
	require.Zero(t, again.Balance)
	require.Equal(t, int64(0), requireConsistent(t, b.ctx, b.s, ann))
	require.Len(t, b.history(t, ann), 3)
}

func testDebitOrder(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	b.grant(t, ann, 1, 3*time.Hour)
	b.grant(t, ann, 1, time.Hour)
	b.grant(t, ann, 1, 0)
	b.grant(t, ann, 1, 2*time.Hour)
	b.debit(t, ann, "uid-1", 3)

	// The three expiring grants were spent; the one without expiry is left.
	b.clock.Advance(4 * time.Hour)
	require.Equal(t, int64(1), b.balance(t, ann))
	require.NotContains(t, kinds(b.history(t, ann)), credits.KindExpire)

	// Expired credit is never spent.
	b.grant(t, ann, 5, time.Hour)
	b.clock.Advance(time.Hour)
	_, err := b.s.Debit(b.ctx, credits.Debit{Email: ann, BookingUID: "uid-2", Amount: 2})
	var short *credits.InsufficientError
	require.ErrorAs(t, err, &short)
	require.Equal(t, int64(1), short.Balance)
	require.Equal(t, int64(1), requireConsistent(t, b.ctx, b.s, ann))
}

func testRefund(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	_, err := b.s.Refund(b.ctx, "", "")
	require.ErrorIs(t, err, credits.ErrInvalid)
	_, err = b.s.Refund(b.ctx, "never", "")
	require.ErrorIs(t, err, credits.ErrNotFound)

	b.grant(t, ann, 5, 0)
	b.debit(t, ann, "uid-1", 3)
	e, err := b.s.Refund(b.ctx, "uid-1", "host cancelled")
	require.NoError(t, err)
	require.Equal(t, credits.Entry{ID: e.ID, Email: ann, Kind: credits.KindRefund, Amount: 3, BalanceAfter: 5,
		BookingUID: "uid-1", Note: "host cancelled", CreatedAt: b.clock.Now()}, e)
	_, err = b.s.LiveDebit(b.ctx, "uid-1")
	require.ErrorIs(t, err, credits.ErrNotFound)
	_, err = b.s.Refund(b.ctx, "uid-1", "")
	require.ErrorIs(t, err, credits.ErrNotFound, "once per debit")

	// A refunded uid may be debited afresh, and refunded again.
	res := b.debit(t, ann, "uid-1", 2)
	require.False(t, res.Already)
	require.Equal(t, int64(3), res.Balance)
	_, err = b.s.Refund(b.ctx, "uid-1", "")
	require.NoError(t, err)
	require.Equal(t, int64(5), requireConsistent(t, b.ctx, b.s, ann))
}

func testRefundExpired(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	g := b.grant(t, ann, 2, time.Hour)
	b.grant(t, ann, 1, 0)
	b.debit(t, ann, "uid-1", 3)
	b.clock.Advance(2 * time.Hour)
	require.Zero(t, b.balance(t, ann))

	// The grant's part comes back and expires at once; the rest stays.
	e, err := b.s.Refund(b.ctx, "uid-1", "")
	require.NoError(t, err)
	require.Equal(t, int64(3), e.Amount)
	require.Equal(t, int64(3), e.BalanceAfter)
	require.Equal(t, int64(1), b.balance(t, ann))
	h := b.history(t, ann)
	require.Equal(t, []credits.Kind{credits.KindGrant, credits.KindGrant, credits.KindDebit,
		credits.KindRefund, credits.KindExpire}, kinds(h))
	require.Equal(t, int64(-2), h[4].Amount)
	require.Equal(t, fmt.Sprintf("grant #%d expired", g.ID), h[4].Note)
	require.Equal(t, int64(1), requireConsistent(t, b.ctx, b.s, ann))
}

func testForfeit(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	_, err := b.s.Forfeit(b.ctx, "never", "")
	require.ErrorIs(t, err, credits.ErrNotFound)
	_, err = b.s.Forfeit(b.ctx, "", "")
	require.ErrorIs(t, err, credits.ErrInvalid)

	b.grant(t, ann, 3, 0)
	b.debit(t, ann, "uid-1", 2)
	e, err := b.s.Forfeit(b.ctx, "uid-1", "late cancellation")
	require.NoError(t, err)
	require.Equal(t, credits.Entry{ID: e.ID, Email: ann, Kind: credits.KindForfeit, Amount: 0, BalanceAfter: 1,
		BookingUID: "uid-1", Note: "late cancellation", CreatedAt: b.clock.Now()}, e)
	_, err = b.s.LiveDebit(b.ctx, "uid-1")
	require.ErrorIs(t, err, credits.ErrNotFound)
	_, err = b.s.Refund(b.ctx, "uid-1", "")
	require.ErrorIs(t, err, credits.ErrNotFound, "a forfeited debit is never refunded")
	_, err = b.s.Forfeit(b.ctx, "uid-1", "")
	require.ErrorIs(t, err, credits.ErrNotFound)
	require.Equal(t, int64(1), requireConsistent(t, b.ctx, b.s, ann))
}

func testMove(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	_, err := b.s.Move(b.ctx, "", "new", "")
	require.ErrorIs(t, err, credits.ErrInvalid)
	_, err = b.s.Move(b.ctx, "old", "", "")
	require.ErrorIs(t, err, credits.ErrInvalid)
	_, err = b.s.Move(b.ctx, "never", "new", "")
	require.ErrorIs(t, err, credits.ErrNotFound)

	g := b.grant(t, ann, 5, 10*time.Hour)
	debit := b.debit(t, ann, "old", 2).Entry
	e, err := b.s.Move(b.ctx, "old", "new", "")
	require.NoError(t, err)
	require.Equal(t, credits.Entry{ID: e.ID, Email: ann, Kind: credits.KindTransfer, Amount: 0, BalanceAfter: 3,
		BookingUID: "new", Note: "moved from old", CreatedAt: b.clock.Now()}, e)
	_, err = b.s.LiveDebit(b.ctx, "old")
	require.ErrorIs(t, err, credits.ErrNotFound)
	live, err := b.s.LiveDebit(b.ctx, "new")
	require.NoError(t, err)
	require.Equal(t, debit, live)
	require.True(t, b.debit(t, ann, "new", 2).Already)

	// A replayed move is a no-op returning the debit.
	n := len(b.history(t, ann))
	replay, err := b.s.Move(b.ctx, "old", "new", "")
	require.NoError(t, err)
	require.Equal(t, debit, replay)
	require.Len(t, b.history(t, ann), n)

	// A second reschedule works the same, and a refund finds the lot.
	_, err = b.s.Move(b.ctx, "new", "newer", "rescheduled again")
	require.NoError(t, err)
	_, err = b.s.Refund(b.ctx, "newer", "")
	require.NoError(t, err)
	require.Equal(t, int64(5), b.balance(t, ann))
	b.clock.Advance(10 * time.Hour)
	h := b.history(t, ann)
	last := h[len(h)-1]
	require.Equal(t, int64(-5), last.Amount)
	require.Equal(t, fmt.Sprintf("grant #%d expired", g.ID), last.Note)
	require.Zero(t, requireConsistent(t, b.ctx, b.s, ann))
}

func testMoveOntoDebited(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	b.grant(t, ann, 5, 0)
	b.debit(t, ann, "x", 1)
	y := b.debit(t, ann, "y", 2).Entry
	e, err := b.s.Move(b.ctx, "x", "y", "")
	require.NoError(t, err)
	require.Equal(t, y, e)
	_, err = b.s.LiveDebit(b.ctx, "x")
	require.NoError(t, err, "x untouched")
	require.Equal(t, int64(2), requireConsistent(t, b.ctx, b.s, ann))
	require.NotContains(t, kinds(b.history(t, ann)), credits.KindTransfer)
}
