package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// Grant adds credit; see credits.Store.
func (l *Ledger) Grant(ctx context.Context, email string, amount int64, opts credits.GrantOptions) (credits.Entry, error) {
	email = credits.NormalizeEmail(email)
	if email == "" || amount <= 0 {
		return credits.Entry{}, fmt.Errorf("grant %d to %q: %w", amount, email, credits.ErrInvalid)
	}
	expiresAt := truncate(opts.ExpiresAt)
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		if opts.Ref != "" {
			got, err := l.entry(ctx, q, qEntryByRef, opts.Ref)
			if err == nil {
				e = got
				return nil
			} else if !errors.Is(err, credits.ErrNotFound) {
				return err
			}
		}
		m, err := l.lock(ctx, q, email, true, now)
		if err != nil {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		got, err := l.appendEntry(ctx, q, m, newEntry{kind: credits.KindGrant, amount: amount,
			note: opts.Note, expiresAt: expiresAt, ref: opts.Ref}, now)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qInsertLot, got.ID, m.email, amount, l.timeArg(expiresAt)); err != nil {
			return err
		}
		e = got
		// A grant that expired before it was made (a late import) is
		// written off at once rather than at the next operation.
		return l.expire(ctx, q, m, now)
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("grant %s: %w", email, err)
	}
	return e, nil
}

// Balance is the spendable credit now; see credits.Store. It writes the
// expire entries that are due, so it takes the member's lock like a write.
func (l *Ledger) Balance(ctx context.Context, email string) (int64, error) {
	email = credits.NormalizeEmail(email)
	if email == "" {
		return 0, fmt.Errorf("balance: empty email: %w", credits.ErrInvalid)
	}
	var bal int64
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, false, now)
		if err != nil {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		bal = m.balance
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("balance %s: %w", email, err)
	}
	return bal, nil
}

// Adjust corrects a balance; see credits.Store. A positive adjustment is a
// lot that never expires; a negative one spends like a debit, without a
// booking to refund it to.
func (l *Ledger) Adjust(ctx context.Context, email string, amount int64, note string) (credits.Entry, error) {
	email = credits.NormalizeEmail(email)
	if email == "" || amount == 0 {
		return credits.Entry{}, fmt.Errorf("adjust %q by %d: %w", email, amount, credits.ErrInvalid)
	}
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, amount > 0, now)
		if err != nil {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		if amount < 0 {
			if m.balance < -amount {
				return &credits.InsufficientError{Email: m.email, Balance: m.balance, Cost: -amount}
			}
			if _, err := l.consume(ctx, q, m, -amount, now); err != nil {
				return err
			}
		}
		got, err := l.appendEntry(ctx, q, m, newEntry{kind: credits.KindAdjust, amount: amount, note: note}, now)
		if err != nil {
			return err
		}
		e = got
		if amount < 0 {
			return nil
		}
		return q.Exec(ctx, qInsertLot, got.ID, m.email, amount, nil)
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("adjust %s by %d: %w", email, amount, err)
	}
	return e, nil
}

// Record writes an entry that moves nothing; see credits.Store.
func (l *Ledger) Record(ctx context.Context, email string, kind credits.Kind, uid, note string) (credits.Entry, error) {
	email = credits.NormalizeEmail(email)
	switch {
	case email == "":
		return credits.Entry{}, fmt.Errorf("record %s: empty email: %w", kind, credits.ErrInvalid)
	case kind != credits.KindOverride && kind != credits.KindForfeit && kind != credits.KindTransfer:
		return credits.Entry{}, fmt.Errorf("record %s: kind moves credit: %w", kind, credits.ErrInvalid)
	}
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, true, now)
		if err != nil {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		e, err = l.appendEntry(ctx, q, m, newEntry{kind: kind, uid: uid, note: note}, now)
		return err
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("record %s for %s: %w", kind, email, err)
	}
	return e, nil
}

// History lists a member's entries; see credits.Store.
func (l *Ledger) History(ctx context.Context, email string) ([]credits.Entry, error) {
	email = credits.NormalizeEmail(email)
	if email == "" {
		return nil, fmt.Errorf("history: empty email: %w", credits.ErrInvalid)
	}
	var es []credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, false, now)
		if err != nil || !m.exists {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		es, err = collect(ctx, q, func(r Rows, e *credits.Entry) error {
			return r.Scan(entryDest(e)...)
		}, qHistory, m.email)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", email, err)
	}
	if es == nil {
		es = []credits.Entry{} // lists encode as [], not null
	}
	return es, nil
}

// Alias makes alias spend email's credit; see credits.Store. An alias row
// points at the canonical member, never at another alias: aliasing to an
// alias points at what that alias points at, so chains stay one hop.
func (l *Ledger) Alias(ctx context.Context, email, alias string) error {
	email, alias = credits.NormalizeEmail(email), credits.NormalizeEmail(alias)
	switch {
	case email == "" || alias == "":
		return fmt.Errorf("alias %q to %q: %w", alias, email, credits.ErrInvalid)
	case email == alias:
		return nil
	}
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, true, now)
		if err != nil {
			return err
		}
		if m.email == alias {
			return fmt.Errorf("%s is an alias of %s, a cycle: %w", email, alias, credits.ErrInvalid)
		}
		var inserted string
		err = q.QueryRow(ctx, qInsertAlias, alias, m.email, l.d.Time(now)).Scan(&inserted)
		if !errors.Is(err, credits.ErrNotFound) {
			return err
		}
		var aliasOf string
		if err := q.QueryRow(ctx, qAliasOf, alias).Scan(&aliasOf); err != nil {
			return err
		}
		switch aliasOf {
		case m.email:
			return nil
		case "":
			return fmt.Errorf("%s has a ledger of its own: %w", alias, credits.ErrInvalid)
		default:
			return fmt.Errorf("%s is already an alias of %s: %w", alias, aliasOf, credits.ErrInvalid)
		}
	})
	if err != nil {
		return fmt.Errorf("alias %s to %s: %w", alias, email, err)
	}
	return nil
}
