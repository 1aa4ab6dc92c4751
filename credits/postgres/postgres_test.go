package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/creditstest"
	"github.com/creditgate/creditgate/credits/postgres"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// databaseURL is TEST_DATABASE_URL; without it the test is skipped.
func databaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL tests")
	}
	return u
}

// schemaURL creates a schema of its own for the test, dropped at the end,
// and returns TEST_DATABASE_URL with search_path set to it.
func schemaURL(t *testing.T) string {
	t.Helper()
	base := databaseURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "creditstest_" + hex.EncodeToString(b)
	admin := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	admin("CREATE SCHEMA " + schema)
	t.Cleanup(func() { admin("DROP SCHEMA " + schema + " CASCADE") })
	return withSearchPath(t, base, schema)
}

// withSearchPath adds search_path to a URL or key=value connection string;
// pgx passes unknown parameters to the server as run-time parameters.
func withSearchPath(t *testing.T, base, schema string) string {
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// setup opens a fresh ledger in its own schema.
func setup(t *testing.T, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	dsn := schemaURL(t)
	s, err := postgres.Open(t.Context(), dsn, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, dsn
}

func TestConformance(t *testing.T) {
	t.Parallel()
	databaseURL(t) // skip at once without a database
	creditstest.Exercise(t, func(t *testing.T, now func() time.Time) credits.Store {
		s, _ := setup(t, postgres.WithNow(now))
		return s
	})
}

func openDSN(ctx context.Context, dsn string) (credits.Store, error) {
	return postgres.Open(ctx, dsn)
}

func TestProcesses(t *testing.T) {
	t.Parallel()
	creditstest.Processes(t, schemaURL(t), openDSN)
}

func TestHelperProcess(t *testing.T) {
	creditstest.HelperProcess(t, openDSN)
}

func TestOpenPool(t *testing.T) {
	t.Parallel()
	dsn := schemaURL(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	s, err := postgres.OpenPool(t.Context(), pool)
	require.NoError(t, err)
	_, err = s.Grant(t.Context(), "ann@example.com", 2, credits.GrantOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, pool.Ping(t.Context()), "Close leaves the caller's pool open")
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	s, dsn := setup(t)
	require.NoError(t, s.Migrate(t.Context()))
	v, err := s.SchemaVersion(t.Context())
	require.NoError(t, err)
	require.Equal(t, s.LatestSchemaVersion(), v)

	// Several processes starting at once all migrate, once.
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}

	// A database from a newer binary is refused.
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, now())`)
	require.NoError(t, err)
	require.ErrorIs(t, s.Migrate(t.Context()), credits.ErrSchemaTooNew)
	_, err = postgres.Open(t.Context(), dsn)
	require.ErrorIs(t, err, credits.ErrSchemaTooNew)
}

// A database at schema version 1 (before dead letters) upgrades in place,
// and a binary that knows only version 1 then refuses it.
func TestUpgradeFromV1(t *testing.T) {
	t.Parallel()
	dsn := schemaURL(t)
	openV1 := func(ctx context.Context, dsn string) (credits.Store, error) {
		s, err := postgres.Open(ctx, dsn, postgres.WithSchemaVersion(1))
		if err != nil {
			return nil, err
		}
		v, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, v)
		return s, nil
	}
	creditstest.Upgrade(t, dsn, openV1, openDSN)
}

func TestEntriesAppendOnly(t *testing.T) {
	t.Parallel()
	s, dsn := setup(t)
	_, err := s.Grant(t.Context(), "ann@example.com", 3, credits.GrantOptions{})
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	for _, q := range []string{`UPDATE entries SET amount = 100`, `DELETE FROM entries`, `TRUNCATE entries CASCADE`} {
		_, err := conn.Exec(t.Context(), q)
		require.ErrorContains(t, err, "append-only", q)
	}
}
