package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/creditgate/creditgate/credits/internal/ledger"
)

// db adapts database/sql to ledger.DB: writes on w, reads on r.
type db struct {
	w, r *sql.DB
}

// runner is what *sql.DB and *sql.Tx share.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs the ledger's SQL on one runner and translates its errors.
type querier struct{ run runner }

func (q querier) Exec(ctx context.Context, query string, args ...any) error {
	_, err := q.run.ExecContext(ctx, query, args...)
	return translate(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (ledger.Rows, error) {
	rs, err := q.run.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows{rs}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) ledger.Row {
	return row{q.run.QueryRowContext(ctx, query, args...)}
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return translate(r.r.Scan(dest...)) }

type rows struct{ rs *sql.Rows }

func (r rows) Next() bool             { return r.rs.Next() }
func (r rows) Scan(dest ...any) error { return translate(r.rs.Scan(dest...)) }
func (r rows) Err() error             { return translate(r.rs.Err()) }
func (r rows) Close()                 { _ = r.rs.Close() }

// Exec runs a statement outside a transaction, on the writer.
func (d *db) Exec(ctx context.Context, query string, args ...any) error {
	return querier{d.w}.Exec(ctx, query, args...)
}

// Query reads committed data on a reader.
func (d *db) Query(ctx context.Context, query string, args ...any) (ledger.Rows, error) {
	return querier{d.r}.Query(ctx, query, args...)
}

// QueryRow reads committed data on a reader.
func (d *db) QueryRow(ctx context.Context, query string, args ...any) ledger.Row {
	return querier{d.r}.QueryRow(ctx, query, args...)
}

// WriteTx runs fn in a BEGIN IMMEDIATE transaction on the writer.
func (d *db) WriteTx(ctx context.Context, fn func(ledger.Querier) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(querier{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return translate(tx.Commit())
}

func (d *db) Ping(ctx context.Context) error {
	return errors.Join(d.w.PingContext(ctx), d.r.PingContext(ctx))
}

func (d *db) Close() error {
	if d.r == d.w {
		return d.w.Close()
	}
	return errors.Join(d.r.Close(), d.w.Close())
}
