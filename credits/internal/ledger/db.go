// Package ledger implements credits.Store once, over SQL that PostgreSQL and
// SQLite both understand. The backends (credits/postgres, credits/sqlite) own
// the connection, the schema and the translation of their drivers' errors;
// this package owns the money rules, so both backends keep them the same way.
//
// The model: a member's credit lives in lots, one per grant or positive
// adjustment, each with what remains of it and an optional expiry. A debit
// takes from the lots that expire first (lots without expiry last) and
// records how much it took from each (allocations), so a refund can give
// the credit back where it came from. Every change is an append-only entry
// carrying the member's balance after it; members.balance is that running
// balance, and the member's row is what writers lock.
package ledger

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// Querier runs SQL. Backends adapt pgx and database/sql to it; their
// adapters return credits.ErrNotFound for a row that is not there and wrap
// ErrConflict around errors worth retrying.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) error
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB is a database the ledger runs on. Its Querier methods run outside any
// transaction: reads of committed data, and writes of one statement that
// need no transaction around them (Exec, on the connection writes go to).
type DB interface {
	Querier
	// WriteTx runs fn in a transaction, committed when fn returns nil and
	// rolled back otherwise. Two WriteTx that lock the same member (see
	// Dialect.LockMember) must not interleave.
	WriteTx(ctx context.Context, fn func(Querier) error) error
	Ping(ctx context.Context) error
	Close() error
}

// ErrConflict marks an error after which the whole transaction may simply
// run again: a unique violation lost to a concurrent writer, a deadlock, a
// serialisation failure, a database busy beyond its timeout.
var ErrConflict = errors.New("write conflict")

// Dialect is what differs between the databases.
type Dialect struct {
	// LockMember selects balance and COALESCE(alias_of, '') of the members
	// row whose email is $1 and, where the database locks rows, locks it
	// until the transaction ends.
	LockMember string
	// Time encodes a time (UTC, microseconds) as a query argument.
	Time func(time.Time) any
	// MigrationsTable creates schema_migrations (version, applied_at) when
	// it is missing.
	MigrationsTable string
	// MigrationLock, when set, runs first in the migration transaction so
	// that two processes starting together do not both migrate.
	MigrationLock string
	// Migrations holds the numbered migration files, NNNN_name.sql.
	Migrations fs.FS
}
