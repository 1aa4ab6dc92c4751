// Package sqlite is the embedded SQLite backend of the credits ledger, the
// default: one file beside the binary, no server, no cgo (modernc.org/sqlite).
//
// Writes are serialised twice over. Within a process every write
// transaction goes through one connection, so goroutines queue in Go rather
// than spin on SQLite's lock; across processes each write transaction
// starts with BEGIN IMMEDIATE, taking the database's write lock before it
// reads anything, and waits for it up to the busy timeout. So no two
// writers ever act on the same balance, and no writer fails with
// SQLITE_BUSY under ordinary contention. Reads run on a pool of read-only
// connections beside the writer (WAL lets them proceed while it writes).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/internal/ledger"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a write waits for another process's write lock.
const busyTimeout = 30 * time.Second

// Store is the ledger in a SQLite database. The methods of credits.Store,
// documented there, come from the embedded ledger shared with the
// PostgreSQL backend (credits/internal/ledger holds the rules).
type Store struct {
	*ledger.Ledger
}

var _ credits.Store = (*Store)(nil)

// Migrate brings the schema up to date, in one transaction; Open has done
// so already. Running it again, or from several processes at once, is
// harmless. A database migrated by a newer creditgate is refused with
// credits.ErrSchemaTooNew.
func (s *Store) Migrate(ctx context.Context) error {
	return s.Ledger.Migrate(ctx)
}

// SchemaVersion is the version the database's schema is migrated to.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return s.Ledger.SchemaVersion(ctx)
}

// LatestSchemaVersion is the schema version this binary migrates to.
func (s *Store) LatestSchemaVersion() int {
	return s.Ledger.LatestSchemaVersion()
}

// Option changes how Open sets up a Store.
type Option func(*options)

type options struct {
	now func() time.Time
	// schemaVersion, when set, stops migrations there, as an older binary
	// would (tests of upgrades; see export_test.go).
	schemaVersion int
}

// WithNow makes the Store read the time from now instead of time.Now, so
// tests can move time (expiry) deterministically.
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Open opens (creating if need be) the SQLite ledger at dsn and migrates it.
// dsn is a file path, optionally with a "sqlite:" scheme and modernc.org/sqlite
// query parameters; ":memory:" (or mode=memory) keeps the ledger in memory
// for the life of the Store.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := openDB(dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	d := ledger.Dialect{
		LockMember:      qLockMember,
		Time:            func(t time.Time) any { return t.UnixMicro() },
		MigrationsTable: qMigrationsTable,
		Migrations:      mustSub(migrations, "migrations"),
	}
	l, err := ledger.New(db, d, o.now)
	if err == nil && o.schemaVersion != 0 {
		err = l.LimitSchemaVersion(o.schemaVersion)
	}
	if err == nil {
		err = l.Migrate(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	return &Store{Ledger: l}, nil
}

// SQLite locks the whole database for a write transaction, so locking a
// member is just reading it.
const (
	qLockMember = `SELECT balance, COALESCE(alias_of, '') FROM members WHERE email = $1`

	qMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT`
)

// openDB opens the writer and the readers.
func openDB(dsn string) (*db, error) {
	path, query, memory, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	wq := withPragmas(query, "journal_mode(WAL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, err
	}
	// One writer connection: goroutines queue for it instead of contending
	// for the file lock. An in-memory database lives only as long as its
	// one connection, so that connection is never recycled.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if memory {
		return newDB(w, w), nil
	}
	r, err := sql.Open("sqlite", path+"?"+withPragmas(query, "query_only(1)").Encode())
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	// Readers stay open: each holds the ledger's prepared statements.
	r.SetMaxOpenConns(max(4, runtime.NumCPU()))
	r.SetMaxIdleConns(max(4, runtime.NumCPU()))
	return newDB(w, r), nil
}

// withPragmas adds to the caller's query the pragmas every connection needs.
// busy_timeout comes first (the driver sorts it so): the other pragmas may
// themselves wait for a lock.
func withPragmas(query url.Values, extra ...string) url.Values {
	q := url.Values{}
	for k, vs := range query {
		q[k] = append([]string(nil), vs...)
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	return q
}

// parseDSN splits dsn into the path and query modernc.org/sqlite reads.
func parseDSN(dsn string) (path string, query url.Values, memory bool, err error) {
	dsn = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:")
	path, rawQuery, _ := strings.Cut(dsn, "?")
	if query, err = url.ParseQuery(rawQuery); err != nil {
		return "", nil, false, fmt.Errorf("parse dsn query: %w", err)
	}
	if path == "" {
		return "", nil, false, fmt.Errorf("empty path: %w", credits.ErrInvalid)
	}
	memory = path == ":memory:" || strings.HasPrefix(path, "file::memory:") || query.Get("mode") == "memory"
	return path, query, memory, nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees dir exists
	}
	return sub
}

// translate maps SQLite's errors to the ledger's: no rows is
// credits.ErrNotFound; a unique violation or a lock still busy after the
// timeout is ledger.ErrConflict, worth running the transaction again.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return credits.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
			code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", ledger.ErrConflict, err)
		}
	}
	return err
}
