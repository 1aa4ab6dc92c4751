package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/creditstest"
	"github.com/creditgate/creditgate/credits/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup opens a fresh ledger in its own file.
func setup(t *testing.T, opts ...sqlite.Option) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(t.Context(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

func TestConformance(t *testing.T) {
	t.Parallel()
	creditstest.Exercise(t, func(t *testing.T, now func() time.Time) credits.Store {
		s, _ := setup(t, sqlite.WithNow(now))
		return s
	})
}

func openDSN(ctx context.Context, dsn string) (credits.Store, error) {
	return sqlite.Open(ctx, dsn)
}

func TestProcesses(t *testing.T) {
	t.Parallel()
	creditstest.Processes(t, "sqlite:"+filepath.Join(t.TempDir(), "race.db"), openDSN)
}

func TestHelperProcess(t *testing.T) {
	creditstest.HelperProcess(t, openDSN)
}

func TestOpenDSN(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	for _, dsn := range []string{path, "sqlite:" + path, "sqlite://" + path, "file:" + path,
		path + "?_pragma=cache_size(-4000)"} {
		s, err := sqlite.Open(t.Context(), dsn)
		require.NoError(t, err, dsn)
		_, err = s.Grant(t.Context(), "ann@example.com", 1, credits.GrantOptions{})
		require.NoError(t, err, dsn)
		require.NoError(t, s.Close())
	}
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer s.Close()
	bal, err := s.Balance(t.Context(), "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, int64(5), bal, "every DSN reached the same file")

	_, err = sqlite.Open(t.Context(), "sqlite:")
	require.ErrorIs(t, err, credits.ErrInvalid)
}

func TestMemory(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{":memory:", "sqlite::memory:"} {
		s, err := sqlite.Open(t.Context(), dsn)
		require.NoError(t, err, dsn)
		_, err = s.Grant(t.Context(), "ann@example.com", 3, credits.GrantOptions{})
		require.NoError(t, err)
		_, err = s.Debit(t.Context(), credits.Debit{Email: "ann@example.com", BookingUID: "u", Amount: 1})
		require.NoError(t, err)
		_, err = s.LiveDebit(t.Context(), "u")
		require.NoError(t, err, "reads see the writer's in-memory database")
		bal, err := s.Balance(t.Context(), "ann@example.com")
		require.NoError(t, err)
		require.Equal(t, int64(2), bal)
		require.NoError(t, s.Close())
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	require.NoError(t, s.Migrate(t.Context()))
	v, err := s.SchemaVersion(t.Context())
	require.NoError(t, err)
	require.Equal(t, s.LatestSchemaVersion(), v)

	// A database from a newer binary is refused.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`)
	require.NoError(t, err)
	require.ErrorIs(t, s.Migrate(t.Context()), credits.ErrSchemaTooNew)
	_, err = sqlite.Open(t.Context(), path)
	require.ErrorIs(t, err, credits.ErrSchemaTooNew)
}

// A database at schema version 1 (before dead letters) upgrades in place,
// and a binary that knows only version 1 then refuses it.
func TestUpgradeFromV1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	openV1 := func(ctx context.Context, dsn string) (credits.Store, error) {
		s, err := sqlite.Open(ctx, dsn, sqlite.WithSchemaVersion(1))
		if err != nil {
			return nil, err
		}
		v, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, v)
		return s, nil
	}
	creditstest.Upgrade(t, path, openV1, openDSN)
}

func TestEntriesAppendOnly(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	_, err := s.Grant(t.Context(), "ann@example.com", 3, credits.GrantOptions{})
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{`UPDATE entries SET amount = 100`, `DELETE FROM entries`} {
		_, err := db.Exec(q)
		require.ErrorContains(t, err, "append-only", q)
	}
}
