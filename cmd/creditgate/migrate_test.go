package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// schemaVersions reads the versions recorded in a ledger's
// schema_migrations table, bypassing creditgate.
func schemaVersions(t *testing.T, db string) []int {
	t.Helper()
	var versions []int
	query := func(scan func(dest ...any) error, next func() bool) {
		for next() {
			var v int
			require.NoError(t, scan(&v))
			versions = append(versions, v)
		}
	}
	const q = `SELECT version FROM schema_migrations ORDER BY version`
	if path, ok := strings.CutPrefix(db, "sqlite:"); ok {
		conn, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer conn.Close()
		rows, err := conn.Query(q)
		require.NoError(t, err)
		defer rows.Close()
		query(rows.Scan, rows.Next)
		require.NoError(t, rows.Err())
		return versions
	}
	conn, err := pgx.Connect(context.Background(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), q)
	require.NoError(t, err)
	defer rows.Close()
	query(rows.Scan, rows.Next)
	require.NoError(t, rows.Err())
	return versions
}

// recordVersion marks a ledger as migrated to version v, as a newer
// creditgate would have.
func recordVersion(t *testing.T, db string, v int) {
	t.Helper()
	if path, ok := strings.CutPrefix(db, "sqlite:"); ok {
		conn, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMicro())
		require.NoError(t, err)
		return
	}
	conn, err := pgx.Connect(context.Background(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, v)
	require.NoError(t, err)
}

// latestSchema is the schema version this binary migrates to.
func latestSchema(t *testing.T) int {
	t.Helper()
	l, err := openLedger(context.Background(), "sqlite::memory:")
	require.NoError(t, err)
	defer l.Close()
	m, ok := l.(migrator)
	require.True(t, ok, "the ledger backends provide Migrate and SchemaVersion")
	return m.LatestSchemaVersion()
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	latest := latestSchema(t)
	require.Positive(t, latest)
	want := make([]int, latest)
	for i := range want {
		want[i] = i + 1
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := dbURL(t, backend)
			done := fmt.Sprintf("schema at version %d", latest)

			// A fresh database is migrated to the latest version...
			code, out, errOut := cli(t, db, "migrate")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, done)
			require.Equal(t, want, schemaVersions(t, db))

			// ...and migrating again changes nothing.
			code, out, errOut = cli(t, db, "migrate")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, done)
			require.Equal(t, want, schemaVersions(t, db))
			code, out, _ = cli(t, db, "credits", "grant", "ada@example.com", "3")
			require.Equal(t, 0, code)
			require.Contains(t, out, "balance 3")

			// A database a newer creditgate migrated is refused, untouched.
			recordVersion(t, db, latest+1)
			code, out, errOut = cli(t, db, "migrate")
			require.Equal(t, 1, code, out)
			require.Contains(t, errOut, "newer")
			require.Contains(t, errOut, fmt.Sprintf("schema version %d", latest+1))
			require.Equal(t, append(want, latest+1), schemaVersions(t, db))
			code, _, _ = cli(t, db, "credits", "balance", "ada@example.com")
			require.Equal(t, 1, code, "every command refuses the newer schema")
		})
	}
}

func TestMigrateFlagOverridesEnvironment(t *testing.T) {
	t.Parallel()
	db := dbURL(t, "sqlite")
	code, out, errOut := cli(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", "migrate", "--database-url", db)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "ledger "+db+": schema at version")
}

func TestMigrateFailuresAndUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, db string
		args     []string
		code     int
		stderr   string
	}{
		{"unreachable database", "postgres://creditgate:hunter2@127.0.0.1:1/none?connect_timeout=1", nil, 1, "xxxxx"},
		{"unknown database kind", "mysql://localhost/x", nil, 2, "DATABASE_URL"},
		{"an argument", "sqlite::memory:", []string{"now"}, 2, "no arguments"},
		{"an unknown flag", "sqlite::memory:", []string{"--force"}, 2, "force"},
		{"help", "sqlite::memory:", []string{"--help"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := cli(t, tc.db, append([]string{"migrate"}, tc.args...)...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.stderr)
			require.NotContains(t, errOut, "hunter2", "passwords are never printed")
		})
	}
}
