package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/internal/ledger"
)

// db adapts a pgx pool to ledger.DB.
type db struct {
	pool  *pgxpool.Pool
	owned bool // Close closes the pool
}

// runner is what *pgxpool.Pool and pgx.Tx share.
type runner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier runs the ledger's SQL on one runner and translates its errors.
type querier struct{ run runner }

func (q querier) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := q.run.Exec(ctx, sql, args...)
	return translate(err)
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (ledger.Rows, error) {
	rs, err := q.run.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows{rs}, nil
}

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) ledger.Row {
	return row{q.run.QueryRow(ctx, sql, args...)}
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error { return translate(r.r.Scan(dest...)) }

type rows struct{ rs pgx.Rows }

func (r rows) Next() bool             { return r.rs.Next() }
func (r rows) Scan(dest ...any) error { return translate(r.rs.Scan(dest...)) }
func (r rows) Err() error             { return translate(r.rs.Err()) }
func (r rows) Close()                 { r.rs.Close() }

func (d *db) Exec(ctx context.Context, sql string, args ...any) error {
	return querier{d.pool}.Exec(ctx, sql, args...)
}

func (d *db) Query(ctx context.Context, sql string, args ...any) (ledger.Rows, error) {
	return querier{d.pool}.Query(ctx, sql, args...)
}

func (d *db) QueryRow(ctx context.Context, sql string, args ...any) ledger.Row {
	return querier{d.pool}.QueryRow(ctx, sql, args...)
}

// WriteTx runs fn in a READ COMMITTED transaction: after fn's FOR UPDATE
// waits for a member's lock, its next statement sees what the previous
// holder committed.
func (d *db) WriteTx(ctx context.Context, fn func(ledger.Querier) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	if err := fn(querier{tx}); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return translate(tx.Commit(ctx))
}

func (d *db) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *db) Close() error {
	if d.owned {
		d.pool.Close()
	}
	return nil
}

// SQLSTATEs after which a transaction may run again.
const (
	uniqueViolation      = "23505"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// translate maps pgx's errors to the ledger's: no rows is
// credits.ErrNotFound; a unique violation, a serialisation failure or a
// deadlock is ledger.ErrConflict, worth running the transaction again.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return credits.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation, serializationFailure, deadlockDetected:
			return fmt.Errorf("%w: %w", ledger.ErrConflict, err)
		}
	}
	return err
}
