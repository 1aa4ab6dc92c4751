package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/creditgate/creditgate/credits/internal/ledger"
)

// db adapts database/sql to ledger.DB: writes on w, reads on r, each
// statement prepared once per connection (see stmtCache).
type db struct {
	w, r   *sql.DB
	ws, rs *stmtCache
}

func newDB(w, r *sql.DB) *db {
	d := &db{w: w, r: r, ws: newStmtCache(w)}
	d.rs = d.ws
	if r != w {
		d.rs = newStmtCache(r)
	}
	return d
}

// runner is what *sql.DB and *sql.Tx share.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs the ledger's SQL on one runner and translates its errors.
// Outside a transaction a statement is prepared on first use; inside one
// (tx set) a statement is used prepared when it already is, and run as it
// is otherwise, while it is prepared for the next transaction.
type querier struct {
	run   runner
	stmts *stmtCache
	tx    *sql.Tx
}

// stmt is query prepared, or nil to run it unprepared.
func (q querier) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.tx == nil {
		return q.stmts.prepared(ctx, query)
	}
	if st := q.stmts.lookup(query); st != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return nil
}

func (q querier) Exec(ctx context.Context, query string, args ...any) error {
	var err error
	if st := q.stmt(ctx, query); st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = q.run.ExecContext(ctx, query, args...)
	}
	return translate(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (ledger.Rows, error) {
	var rs *sql.Rows
	var err error
	if st := q.stmt(ctx, query); st != nil {
		rs, err = st.QueryContext(ctx, args...)
	} else {
		rs, err = q.run.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, translate(err)
	}
	return rows{rs}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) ledger.Row {
	if st := q.stmt(ctx, query); st != nil {
		return row{st.QueryRowContext(ctx, args...)}
	}
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
	return querier{run: d.w, stmts: d.ws}.Exec(ctx, query, args...)
}

// Query reads committed data on a reader.
func (d *db) Query(ctx context.Context, query string, args ...any) (ledger.Rows, error) {
	return querier{run: d.r, stmts: d.rs}.Query(ctx, query, args...)
}

// QueryRow reads committed data on a reader.
func (d *db) QueryRow(ctx context.Context, query string, args ...any) ledger.Row {
	return querier{run: d.r, stmts: d.rs}.QueryRow(ctx, query, args...)
}

// WriteTx runs fn in a BEGIN IMMEDIATE transaction on the writer.
func (d *db) WriteTx(ctx context.Context, fn func(ledger.Querier) error) error {
	// The one writer connection is free here, not yet held by the
	// transaction: the time to prepare what earlier ones ran unprepared.
	d.ws.prepareWanted(ctx)
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(querier{run: tx, stmts: d.ws, tx: tx}); err != nil {
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
		d.ws.close()
		return d.w.Close()
	}
	d.rs.close()
	d.ws.close()
	return errors.Join(d.r.Close(), d.w.Close())
}

// stmtCache holds the ledger's statements prepared on one *sql.DB.
// modernc.org/sqlite otherwise parses and plans every statement on every
// call: a sixth of the worker's CPU, inside the one writer's critical
// section (docs/performance.md). The ledger runs a few dozen distinct
// statements, so the cache stays small.
//
// Preparing takes a connection of the pool. On the writer, whose one
// connection a transaction holds until it ends, a statement first met
// inside a transaction is noted instead, and prepared by prepareWanted
// before the next transaction begins.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns query's statement if prepared, else notes it as wanted.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st == nil {
		c.mu.Lock()
		c.wanted[query] = true
		c.mu.Unlock()
	}
	return st
}

// prepared returns query's statement, preparing it if need be; nil if it
// cannot be prepared (the caller then runs it as it is, and reports its
// error).
func (c *stmtCache) prepared(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	c.prepareWanted(ctx)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stmts[query]
}

// prepareWanted prepares the statements noted as wanted. One that fails to
// prepare is dropped, to be noted again at its next use. The lock is not
// held while preparing: that waits for a connection, which a transaction
// calling lookup may hold.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	wanted := c.wanted
	if len(wanted) == 0 {
		c.mu.Unlock()
		return
	}
	c.wanted = map[string]bool{}
	c.mu.Unlock()
	for query := range wanted {
		st, err := c.db.PrepareContext(ctx, query)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.stmts[query] == nil {
			c.stmts[query], st = st, nil
		}
		c.mu.Unlock()
		if st != nil { // prepared meanwhile by another goroutine
			_ = st.Close()
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}
