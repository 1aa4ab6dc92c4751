package creditstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

func testGrant(t *testing.T, open Opener) {
	b := setup(t, open)
	for _, tc := range []struct {
		name   string
		email  string
		amount int64
	}{
		{"zero", "ann@example.com", 0},
		{"negative", "ann@example.com", -3},
		{"empty email", "  ", 5},
	} {
		_, err := b.s.Grant(b.ctx, tc.email, tc.amount, credits.GrantOptions{})
		require.ErrorIs(t, err, credits.ErrInvalid, tc.name)
	}
	require.Empty(t, b.history(t, "ann@example.com"))

	// Stored times keep microseconds, in UTC.
	exp := time.Date(2030, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	e, err := b.s.Grant(b.ctx, " Ann@Example.COM ", 5, credits.GrantOptions{ExpiresAt: &exp, Note: "welcome"})
	require.NoError(t, err)
	require.Positive(t, e.ID)
	require.Equal(t, "ann@example.com", e.Email)
	require.Equal(t, credits.KindGrant, e.Kind)
	require.Equal(t, int64(5), e.Amount)
	require.Equal(t, int64(5), e.BalanceAfter)
	require.Equal(t, "welcome", e.Note)
	require.Equal(t, exp.UTC().Truncate(time.Microsecond), *e.ExpiresAt)
	require.Equal(t, b.clock.Now(), e.CreatedAt)
	require.Equal(t, []credits.Entry{e}, b.history(t, "ANN@example.com"))

	e2 := b.grant(t, "ann@example.com", 2, 0)
	require.Nil(t, e2.ExpiresAt)
	require.Equal(t, int64(7), e2.BalanceAfter)
	require.Equal(t, int64(7), requireConsistent(t, b.ctx, b.s, "ann@example.com"))
}

func testGrantRef(t *testing.T, open Opener) {
	b := setup(t, open)
	first, err := b.s.Grant(b.ctx, "ann@example.com", 5, credits.GrantOptions{Ref: "import.csv:1"})
	require.NoError(t, err)
	again, err := b.s.Grant(b.ctx, "ann@example.com", 5, credits.GrantOptions{Ref: "import.csv:1"})
	require.NoError(t, err)
	require.Equal(t, first, again)
	_, err = b.s.Grant(b.ctx, "ann@example.com", 2, credits.GrantOptions{Ref: "import.csv:2"})
	require.NoError(t, err)
	require.Equal(t, int64(7), requireConsistent(t, b.ctx, b.s, "ann@example.com"))
	require.Len(t, b.history(t, "ann@example.com"), 2)
}

func testBalance(t *testing.T, open Opener) {
	b := setup(t, open)
	require.Zero(t, b.balance(t, "nobody@example.com"))
	require.Empty(t, b.history(t, "nobody@example.com"))
	_, err := b.s.Balance(b.ctx, " ")
	require.ErrorIs(t, err, credits.ErrInvalid)

	g := b.grant(t, "ann@example.com", 3, time.Hour)
	b.grant(t, "ann@example.com", 2, 0)
	require.Equal(t, int64(5), b.balance(t, "ann@example.com"))
	b.clock.Advance(time.Hour - time.Microsecond)
	require.Equal(t, int64(5), b.balance(t, "ann@example.com"))

	// A grant expires at its expiry instant, once, written lazily.
	b.clock.Advance(time.Microsecond)
	require.Equal(t, int64(2), b.balance(t, "ann@example.com"))
	require.Equal(t, int64(2), b.balance(t, "ann@example.com"))
	h := b.history(t, "ann@example.com")
	require.Equal(t, []credits.Kind{credits.KindGrant, credits.KindGrant, credits.KindExpire}, kinds(h))
	last := h[2]
	require.Equal(t, int64(-3), last.Amount)
	require.Equal(t, int64(2), last.BalanceAfter)
	require.Equal(t, fmt.Sprintf("grant #%d expired", g.ID), last.Note)
	require.Equal(t, b.clock.Now(), last.CreatedAt)
	requireConsistent(t, b.ctx, b.s, "ann@example.com")

	// A grant made after its expiry (a late import) is never spendable.
	b.grant(t, "ann@example.com", 4, -time.Minute)
	require.Equal(t, int64(2), b.balance(t, "ann@example.com"))
	requireConsistent(t, b.ctx, b.s, "ann@example.com")
}

func testHistory(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.History(b.ctx, "")
	require.ErrorIs(t, err, credits.ErrInvalid)
	b.grant(t, "ann@example.com", 4, 0)
	b.clock.Advance(time.Minute)
	b.debit(t, "ann@example.com", "uid-1", 3)
	b.grant(t, "bob@example.com", 9, 0)
	_, err = b.s.Refund(b.ctx, "uid-1", "host cancelled")
	require.NoError(t, err)

	h := b.history(t, "ann@example.com")
	require.Equal(t, []credits.Kind{credits.KindGrant, credits.KindDebit, credits.KindRefund}, kinds(h))
	require.Equal(t, []int64{4, 1, 4}, []int64{h[0].BalanceAfter, h[1].BalanceAfter, h[2].BalanceAfter})
	require.Equal(t, "uid-1", h[2].BookingUID)
	require.Equal(t, "host cancelled", h[2].Note)
	require.True(t, h[1].CreatedAt.After(h[0].CreatedAt))
	requireConsistent(t, b.ctx, b.s, "ann@example.com")
	require.Len(t, b.history(t, "bob@example.com"), 1)
}

func testAlias(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann, work, old = "ann@example.com", "ann.work@example.com", "ann.old@example.com"
	b.grant(t, ann, 5, 0)
	require.NoError(t, b.s.Alias(b.ctx, ann, " Ann.Work@Example.com"))
	require.NoError(t, b.s.Alias(b.ctx, ann, work), "again: no-op")
	require.NoError(t, b.s.Alias(b.ctx, ann, " ANN@example.com "), "to itself: no-op")

	res := b.debit(t, work, "uid-1", 2)
	require.Equal(t, ann, res.Entry.Email)
	require.Equal(t, int64(3), b.balance(t, work))
	require.Equal(t, b.history(t, ann), b.history(t, work))

	// A chain resolves to the canonical member.
	require.NoError(t, b.s.Alias(b.ctx, work, old))
	e := b.grant(t, old, 1, 0)
	require.Equal(t, ann, e.Email)
	require.Equal(t, int64(4), b.balance(t, ann))

	b.grant(t, "bob@example.com", 1, 0)
	for _, tc := range []struct{ name, email, alias string }{
		{"cycle", work, ann},
		{"cycle through chain", old, ann},
		{"alias with its own ledger", ann, "bob@example.com"},
		{"alias of another member", "carl@example.com", work},
		{"empty alias", ann, ""},
		{"empty email", "", "dan@example.com"},
	} {
		require.ErrorIs(t, b.s.Alias(b.ctx, tc.email, tc.alias), credits.ErrInvalid, tc.name)
	}
	require.Equal(t, int64(4), requireConsistent(t, b.ctx, b.s, old))
	require.Equal(t, int64(1), b.balance(t, "bob@example.com"))
}

func testAdjust(t *testing.T, open Opener) {
	b := setup(t, open)
	for _, tc := range []struct {
		email  string
		amount int64
	}{{"ann@example.com", 0}, {"", 3}} {
		_, err := b.s.Adjust(b.ctx, tc.email, tc.amount, "")
		require.ErrorIs(t, err, credits.ErrInvalid)
	}
	_, err := b.s.Adjust(b.ctx, "nobody@example.com", -1, "")
	require.ErrorIs(t, err, credits.ErrInsufficient)

	late := b.grant(t, "ann@example.com", 2, 2*time.Hour)
	b.grant(t, "ann@example.com", 2, time.Hour)
	e, err := b.s.Adjust(b.ctx, "ann@example.com", 2, "goodwill")
	require.NoError(t, err)
	require.Equal(t, credits.KindAdjust, e.Kind)
	require.Equal(t, int64(6), e.BalanceAfter)
	require.Nil(t, e.ExpiresAt)

	// Spends the earliest expiry first: all of the 1h grant, 1 of the 2h one.
	e, err = b.s.Adjust(b.ctx, "ann@example.com", -3, "correction")
	require.NoError(t, err)
	require.Equal(t, int64(-3), e.Amount)
	require.Equal(t, int64(3), e.BalanceAfter)
	b.clock.Advance(2 * time.Hour)
	require.Equal(t, int64(2), b.balance(t, "ann@example.com"))
	h := b.history(t, "ann@example.com")
	last := h[len(h)-1]
	require.Equal(t, credits.KindExpire, last.Kind)
	require.Equal(t, int64(-1), last.Amount)
	require.Equal(t, fmt.Sprintf("grant #%d expired", late.ID), last.Note)

	// Nothing below zero, nothing written; positive adjustments never expire.
	_, err = b.s.Adjust(b.ctx, "ann@example.com", -5, "")
	var short *credits.InsufficientError
	require.ErrorAs(t, err, &short)
	require.Equal(t, credits.InsufficientError{Email: "ann@example.com", Balance: 2, Cost: 5}, *short)
	require.Len(t, b.history(t, "ann@example.com"), len(h))
	b.clock.Advance(10 * 365 * 24 * time.Hour)
	require.Equal(t, int64(2), requireConsistent(t, b.ctx, b.s, "ann@example.com"))
}

func testRecord(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.Record(b.ctx, "", credits.KindOverride, "uid-1", "")
	require.ErrorIs(t, err, credits.ErrInvalid)
	for _, k := range []credits.Kind{credits.KindGrant, credits.KindDebit, credits.KindRefund,
		credits.KindExpire, credits.KindAdjust, "bogus"} {
		_, err := b.s.Record(b.ctx, "ann@example.com", k, "uid-1", "")
		require.ErrorIs(t, err, credits.ErrInvalid, k)
	}

	// An unknown booker admitted by the host gets a ledger with the record.
	e, err := b.s.Record(b.ctx, "new@example.com", credits.KindOverride, "uid-1", "admitted by host without credit")
	require.NoError(t, err)
	require.Equal(t, credits.KindOverride, e.Kind)
	require.Zero(t, e.Amount)
	require.Zero(t, e.BalanceAfter)
	require.Equal(t, "uid-1", e.BookingUID)
	require.Equal(t, []credits.Entry{e}, b.history(t, "new@example.com"))

	b.grant(t, "ann@example.com", 3, 0)
	e, err = b.s.Record(b.ctx, "ann@example.com", credits.KindOverride, "uid-2", "host override")
	require.NoError(t, err)
	require.Equal(t, int64(3), e.BalanceAfter)
	require.Equal(t, int64(3), requireConsistent(t, b.ctx, b.s, "ann@example.com"))
}
