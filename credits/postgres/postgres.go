// Package postgres is the PostgreSQL backend of the credits ledger, for
// several workers on several machines sharing one ledger.
//
// Each write transaction locks the member's row (SELECT ... FOR UPDATE)
// before it reads the balance, so writers to one member take turns while
// writers to different members run side by side. Unique indexes are the
// backstop where two members race for one booking uid or one grant ref: the
// loser's transaction fails, runs again and finds the winner's row.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/internal/ledger"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the ledger in a PostgreSQL database (in the schema search_path
// names). The methods of credits.Store, documented there, come from the
// embedded ledger shared with the SQLite backend (credits/internal/ledger
// holds the rules).
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

// Option changes how Open and OpenPool set up a Store.
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

// Open connects to the database at url (postgres://..., or a key=value
// DSN; a search_path parameter picks the schema) and migrates it. Close
// closes the pool.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s, err := open(ctx, &db{pool: pool, owned: true}, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// OpenPool is Open on a pool the caller made and keeps: Close leaves it
// open.
func OpenPool(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	return open(ctx, &db{pool: pool}, opts)
}

func open(ctx context.Context, d *db, opts []Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	l, err := ledger.New(d, ledger.Dialect{
		LockMember:      qLockMember,
		Time:            func(t time.Time) any { return t },
		MigrationsTable: qMigrationsTable,
		MigrationLock:   qMigrationLock,
		Migrations:      sub,
	}, o.now)
	if err == nil && o.schemaVersion != 0 {
		err = l.LimitSchemaVersion(o.schemaVersion)
	}
	if err == nil {
		err = l.Migrate(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Store{Ledger: l}, nil
}

// The PostgreSQL side of ledger.Dialect.
const (
	qLockMember = `SELECT balance, COALESCE(alias_of, '') FROM members WHERE email = $1 FOR UPDATE`

	qMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL
)`

	// Held to the end of the migration transaction; keyed by schema so
	// that ledgers in different schemas migrate independently.
	qMigrationLock = `SELECT pg_advisory_xact_lock(hashtext('creditgate.credits.migrate'), hashtext(current_schema()))`
)
