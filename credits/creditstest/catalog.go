package creditstest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

func testPrices(t *testing.T, open Opener) {
	b := setup(t, open)
	_, ok, err := b.s.Price(b.ctx, 101)
	require.NoError(t, err)
	require.False(t, ok)
	ps, err := b.s.Prices(b.ctx)
	require.NoError(t, err)
	require.Empty(t, ps)
	require.ErrorIs(t, b.s.SetPrice(b.ctx, 101, -1), credits.ErrInvalid)

	require.NoError(t, b.s.SetPrice(b.ctx, 202, 2))
	require.NoError(t, b.s.SetPrice(b.ctx, 101, 3))
	b.clock.Advance(time.Minute)
	require.NoError(t, b.s.SetPrice(b.ctx, 101, 0)) // free, still set
	cost, ok, err := b.s.Price(b.ctx, 101)
	require.NoError(t, err)
	require.True(t, ok)
	require.Zero(t, cost)

	ps, err = b.s.Prices(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []credits.Price{
		{EventTypeID: 101, Cost: 0, UpdatedAt: b.clock.Now()},
		{EventTypeID: 202, Cost: 2, UpdatedAt: b.clock.Now().Add(-time.Minute)},
	}, ps)
}

func testBookings(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.GetBooking(b.ctx, "uid-1")
	require.ErrorIs(t, err, credits.ErrNotFound)
	require.ErrorIs(t, b.s.SaveBooking(b.ctx, credits.Booking{}), credits.ErrInvalid)

	start := time.Date(2030, 2, 1, 15, 30, 0, 0, time.UTC)
	in := credits.Booking{UID: "uid-1", Email: " Ann@Example.com", EventTypeID: 42, Cost: 2,
		SeenPending: true, Decision: "confirmed", Reason: "debited 2", StartTime: &start}
	require.NoError(t, b.s.SaveBooking(b.ctx, in))
	got, err := b.s.GetBooking(b.ctx, "uid-1")
	require.NoError(t, err)
	want := in
	want.Email = "ann@example.com"
	want.UpdatedAt = b.clock.Now()
	require.Equal(t, want, got)

	b.clock.Advance(time.Hour)
	in.Decision, in.Reason, in.SeenPending, in.StartTime = "refunded", "host cancelled", false, nil
	require.NoError(t, b.s.SaveBooking(b.ctx, in))
	got, err = b.s.GetBooking(b.ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, "refunded", got.Decision)
	require.Equal(t, "host cancelled", got.Reason)
	require.False(t, got.SeenPending)
	require.Nil(t, got.StartTime)
	require.Equal(t, b.clock.Now(), got.UpdatedAt)
}

func testPing(t *testing.T, open Opener) {
	b := setup(t, open)
	require.NoError(t, b.s.Ping(b.ctx))
}
