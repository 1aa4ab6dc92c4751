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

// Store is the ledger in a PostgreSQL database (the schema search_path
// names). It implements credits.Store and adds Migrate and SchemaVersion;
// see package ledger for the rules.
type Store struct {
	*ledger.Ledger
}

var _ credits.Store = (*Store)(nil)

// Option changes how Open and OpenPool set up a Store.
type Option func(*options)

type options struct {
	now func() time.Time
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
