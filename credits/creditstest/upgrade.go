package creditstest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

// Upgrade checks that a database an older creditgate filled migrates to
// the current schema with every record intact, and then works in full.
// openOld opens the database at dsn, which must be fresh, as the older
// binary would (migrating only as far as it knows); open is the current
// binary. Upgrade closes what it opens.
func Upgrade(t *testing.T, dsn string, openOld, open OpenDSN) {
	ctx := t.Context()
	old, err := openOld(ctx, dsn)
	require.NoError(t, err)
	fillOld(t, ctx, old)
	before := takeSnapshot(t, ctx, old)
	require.NoError(t, old.Close())

	s, err := open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, before, takeSnapshot(t, ctx, s), "records after the upgrade")

	// The unique indexes came through: a repeated import and a repeated
	// debit are still no-ops.
	e, err := s.Grant(ctx, "ann@example.com", 3, credits.GrantOptions{Ref: "import:1"})
	require.NoError(t, err)
	require.Equal(t, before.history[0][1], e)
	res, err := s.Debit(ctx, credits.Debit{Email: "ann@example.com", BookingUID: "uid-3", Amount: 9})
	require.NoError(t, err)
	require.True(t, res.Already)
	requireConsistent(t, ctx, s, "ann@example.com")
	requireConsistent(t, ctx, s, "bob@example.com")

	// What the new schema adds works on the upgraded database.
	d := credits.DeadLetter{ID: "BOOKING_REQUESTED:uid-3", Queue: "default", Type: "booking:requested",
		Payload: []byte(`{"uid":"uid-3"}`), BookingUID: "uid-3", Error: "boom", Retried: 2,
		FailedAt: time.Now().UTC().Truncate(time.Microsecond)}
	require.NoError(t, s.SaveDeadLetter(ctx, d))
	require.NoError(t, s.MarkReplayed(ctx, d.ID, time.Time{}))
	got, err := s.GetDeadLetter(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Replays)
	got.ReplayedAt, got.Replays = nil, 0
	require.Equal(t, d, got)

	// The database is now at the current version, which the older
	// binary refuses.
	versioned, ok := s.(interface {
		SchemaVersion(context.Context) (int, error)
		LatestSchemaVersion() int
	})
	require.True(t, ok, "a backend reports its schema version")
	v, err := versioned.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, versioned.LatestSchemaVersion(), v)
	_, err = openOld(ctx, dsn)
	require.ErrorIs(t, err, credits.ErrSchemaTooNew)
}

// fillOld uses every kind of record the first schema keeps.
func fillOld(t *testing.T, ctx context.Context, s credits.Store) {
	t.Helper()
	must := func(_ any, err error) { t.Helper(); require.NoError(t, err) }
	expires := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	must(s.Grant(ctx, "ann@example.com", 5, credits.GrantOptions{ExpiresAt: &expires, Note: "pack"}))
	must(s.Grant(ctx, "ann@example.com", 3, credits.GrantOptions{Ref: "import:1"}))
	require.NoError(t, s.Alias(ctx, "ann@example.com", "ann.alt@example.com"))
	must(s.Debit(ctx, credits.Debit{Email: "ann.alt@example.com", BookingUID: "uid-1", Amount: 2, Note: "session"}))
	must(s.Debit(ctx, credits.Debit{Email: "ann@example.com", BookingUID: "uid-2", Amount: 1}))
	must(s.Refund(ctx, "uid-2", "host cancelled"))
	must(s.Move(ctx, "uid-1", "uid-3", "rescheduled"))
	must(s.Adjust(ctx, "ann@example.com", -1, "correction"))
	must(s.Record(ctx, "ann@example.com", credits.KindOverride, "uid-4", "host admitted"))
	must(s.Grant(ctx, "bob@example.com", 1, credits.GrantOptions{}))
	must(s.Debit(ctx, credits.Debit{Email: "bob@example.com", BookingUID: "uid-5", Amount: 1}))
	must(s.Forfeit(ctx, "uid-5", "late cancellation"))
	require.NoError(t, s.SetPrice(ctx, 101, 2))
	require.NoError(t, s.SetPrice(ctx, 202, 0))
	start := time.Date(2030, 2, 1, 15, 30, 0, 0, time.UTC)
	require.NoError(t, s.SaveBooking(ctx, credits.Booking{UID: "uid-3", Email: "ann@example.com", EventTypeID: 101,
		Cost: 2, SeenPending: true, Decision: "confirmed", Reason: "debited 2", StartTime: &start}))
}

// snapshot is everything fillOld left, as the Store reads it.
type snapshot struct {
	history  [][]credits.Entry
	balances []int64
	live     credits.Entry
	booking  credits.Booking
	prices   []credits.Price
}

func takeSnapshot(t *testing.T, ctx context.Context, s credits.Store) snapshot {
	t.Helper()
	var snap snapshot
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		es, err := s.History(ctx, email)
		require.NoError(t, err)
		require.NotEmpty(t, es)
		snap.history = append(snap.history, es)
	}
	for _, email := range []string{"ann@example.com", "ann.alt@example.com", "bob@example.com"} {
		bal, err := s.Balance(ctx, email)
		require.NoError(t, err)
		snap.balances = append(snap.balances, bal)
	}
	var err error
	snap.live, err = s.LiveDebit(ctx, "uid-3")
	require.NoError(t, err)
	snap.booking, err = s.GetBooking(ctx, "uid-3")
	require.NoError(t, err)
	snap.prices, err = s.Prices(ctx)
	require.NoError(t, err)
	return snap
}
