package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// Ledger is credits.Store over a DB and its Dialect.
type Ledger struct {
	db         DB
	d          Dialect
	now        func() time.Time
	migrations []migration
}

var _ credits.Store = (*Ledger)(nil)

// New returns a Ledger on db. now is the clock (time.Now when nil); tests
// pass their own to move time. New does not migrate: call Migrate.
func New(db DB, d Dialect, now func() time.Time) (*Ledger, error) {
	ms, err := parseMigrations(d.Migrations)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Ledger{db: db, d: d, now: now, migrations: ms}, nil
}

// Ping checks the database answers.
func (l *Ledger) Ping(ctx context.Context) error {
	if err := l.db.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close releases the database.
func (l *Ledger) Close() error {
	return l.db.Close()
}

// maxAttempts bounds the reruns of a transaction that hit ErrConflict. A
// rerun starts from the top and sees what the winner wrote (a debit, a
// grant ref), so one rerun is nearly always enough.
const maxAttempts = 5

// write runs fn in a write transaction, again after an ErrConflict. fn
// must not leak results from a failed attempt: assign them last.
func (l *Ledger) write(ctx context.Context, fn func(q Querier, now time.Time) error) error {
	for attempt := 1; ; attempt++ {
		now := l.clock()
		err := l.db.WriteTx(ctx, func(q Querier) error { return fn(q, now) })
		if err == nil || !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// writeOne runs fn, a single statement on DB's own Exec, again after an
// ErrConflict. One statement is atomic by itself: wrapping it in WriteTx
// only adds BEGIN and COMMIT, two more round trips to PostgreSQL on every
// decision (see docs/performance.md).
func (l *Ledger) writeOne(ctx context.Context, fn func(now time.Time) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(l.clock())
		if err == nil || !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// clock is the injected time, at the precision both databases keep.
func (l *Ledger) clock() time.Time {
	return l.now().UTC().Truncate(time.Microsecond)
}

// timeArg binds an optional time; nil stays NULL.
func (l *Ledger) timeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return l.d.Time(*t)
}

// member is a locked member row: its canonical email and running balance.
type member struct {
	email   string
	balance int64
	exists  bool
}

// lock resolves email to its canonical member and locks that member until
// the transaction ends, inserting it first when create is set. An unknown
// member without create comes back with exists false and balance 0.
//
// An alias row points straight at its canonical member (Alias flattens
// chains) and never changes, so one hop is enough.
func (l *Ledger) lock(ctx context.Context, q Querier, email string, create bool, now time.Time) (*member, error) {
	if create {
		if err := q.Exec(ctx, qInsertMember, email, l.d.Time(now)); err != nil {
			return nil, err
		}
	}
	m := &member{email: email}
	var aliasOf string
	err := q.QueryRow(ctx, l.d.LockMember, email).Scan(&m.balance, &aliasOf)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		return m, nil
	case err != nil:
		return nil, err
	case aliasOf != "":
		m.email = aliasOf
		if err := q.QueryRow(ctx, l.d.LockMember, aliasOf).Scan(&m.balance, &aliasOf); err != nil {
			return nil, fmt.Errorf("alias target %s: %w", m.email, err)
		}
	}
	m.exists = true
	return m, nil
}

// newEntry is what an operation asks appendEntry to write.
type newEntry struct {
	kind      credits.Kind
	amount    int64
	uid       string
	note      string
	expiresAt *time.Time
	ref       string
}

// appendEntry writes an entry for a locked member and moves its balance.
func (l *Ledger) appendEntry(ctx context.Context, q Querier, m *member, ne newEntry, now time.Time) (credits.Entry, error) {
	after := m.balance + ne.amount
	if after < 0 {
		// Callers check first; this guards the invariant, the CHECK
		// constraints guard it again.
		return credits.Entry{}, fmt.Errorf("%s entry of %d would leave %s at %d", ne.kind, ne.amount, m.email, after)
	}
	var ref any
	if ne.ref != "" {
		ref = ne.ref
	}
	e := credits.Entry{Email: m.email, Kind: ne.kind, Amount: ne.amount, BalanceAfter: after,
		BookingUID: ne.uid, Note: ne.note, ExpiresAt: ne.expiresAt, CreatedAt: now}
	err := q.QueryRow(ctx, qInsertEntry, e.Email, string(e.Kind), e.Amount, e.BalanceAfter,
		e.BookingUID, e.Note, l.timeArg(e.ExpiresAt), ref, l.d.Time(now)).Scan(&e.ID)
	if err != nil {
		return credits.Entry{}, err
	}
	if err := q.Exec(ctx, qSetBalance, m.email, after); err != nil {
		return credits.Entry{}, err
	}
	m.balance = after
	return e, nil
}

// entry reads one entry.
func (l *Ledger) entry(ctx context.Context, q Querier, query string, arg any) (credits.Entry, error) {
	var e credits.Entry
	err := q.QueryRow(ctx, query, arg).Scan(entryDest(&e)...)
	return e, err
}

// entryDest lists where the columns of entryColumns go.
func entryDest(e *credits.Entry) []any {
	return []any{&e.ID, &e.Email, &e.Kind, &e.Amount, &e.BalanceAfter,
		&e.BookingUID, &e.Note, nullTimeScan{&e.ExpiresAt}, timeScan{&e.CreatedAt}}
}

// collect reads every row of a query, so the next statement of the
// transaction does not run while rows are open (pgx cannot, one SQLite
// connection should not).
func collect[T any](ctx context.Context, q Querier, scan func(Rows, *T) error, query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
