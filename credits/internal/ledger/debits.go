package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// Debit states. At most one debit per booking uid is live; the partial
// unique index debits_one_live makes the database hold that even when two
// members race for one uid.
const (
	stateRefunded  = "refunded"
	stateForfeited = "forfeited"
	stateMoved     = "moved"
)

// debit is a row of debits: a booking's charge and the entry that made it.
type debit struct {
	id      int64
	email   string
	amount  int64
	entryID int64
}

func (l *Ledger) liveDebit(ctx context.Context, q Querier, uid string) (debit, error) {
	var d debit
	err := q.QueryRow(ctx, qLiveDebit, uid).Scan(&d.id, &d.email, &d.amount, &d.entryID)
	return d, err
}

// Debit charges a booking once; see credits.Store.
func (l *Ledger) Debit(ctx context.Context, d credits.Debit) (credits.DebitResult, error) {
	email := credits.NormalizeEmail(d.Email)
	if email == "" || d.BookingUID == "" || d.Amount <= 0 {
		return credits.DebitResult{}, fmt.Errorf("debit %q of %d to %q: %w",
			d.BookingUID, d.Amount, email, credits.ErrInvalid)
	}
	var res credits.DebitResult
	err := l.write(ctx, func(q Querier, now time.Time) error {
		m, err := l.lock(ctx, q, email, false, now)
		if err != nil {
			return err
		}
		if err := l.expire(ctx, q, m, now); err != nil {
			return err
		}
		if live, err := l.liveDebit(ctx, q, d.BookingUID); err == nil {
			e, err := l.entry(ctx, q, qEntryByID, live.entryID)
			res = credits.DebitResult{Entry: e, Already: true, Balance: m.balance}
			return err
		} else if !errors.Is(err, credits.ErrNotFound) {
			return err
		}
		if m.balance < d.Amount {
			return &credits.InsufficientError{Email: m.email, Balance: m.balance, Cost: d.Amount}
		}
		e, err := l.charge(ctx, q, m, d, now)
		res = credits.DebitResult{Entry: e, Balance: m.balance}
		return err
	})
	if err != nil {
		return credits.DebitResult{}, fmt.Errorf("debit %s: %w", d.BookingUID, err)
	}
	return res, nil
}

// charge writes a debit the balance allows: its entry, its live row and
// the lots it took from.
func (l *Ledger) charge(ctx context.Context, q Querier, m *member, d credits.Debit, now time.Time) (credits.Entry, error) {
	allocs, err := l.consume(ctx, q, m, d.Amount, now)
	if err != nil {
		return credits.Entry{}, err
	}
	e, err := l.appendEntry(ctx, q, m, newEntry{kind: credits.KindDebit, amount: -d.Amount,
		uid: d.BookingUID, note: d.Note}, now)
	if err != nil {
		return credits.Entry{}, err
	}
	var id int64
	err = q.QueryRow(ctx, qInsertDebit, d.BookingUID, m.email, d.Amount, e.ID, nil, l.d.Time(now)).Scan(&id)
	if err != nil {
		return credits.Entry{}, err
	}
	for _, a := range allocs {
		if err := q.Exec(ctx, qInsertAllocation, id, a.lot, a.amount); err != nil {
			return credits.Entry{}, err
		}
	}
	return e, nil
}

// LiveDebit returns the live debit of a booking uid; see credits.Store.
func (l *Ledger) LiveDebit(ctx context.Context, uid string) (credits.Entry, error) {
	d, err := l.liveDebit(ctx, l.db, uid)
	if err != nil {
		return credits.Entry{}, fmt.Errorf("live debit %s: %w", uid, err)
	}
	e, err := l.entry(ctx, l.db, qEntryByID, d.entryID)
	if err != nil {
		return credits.Entry{}, fmt.Errorf("live debit %s: %w", uid, err)
	}
	return e, nil
}

// lockDebit finds the live debit of uid and locks its member, expiring
// that member's lots. It reads the debit again under the lock: another
// writer may have ended it while this one waited.
func (l *Ledger) lockDebit(ctx context.Context, q Querier, uid string, now time.Time) (debit, *member, error) {
	d, err := l.liveDebit(ctx, q, uid)
	if err != nil {
		return debit{}, nil, err
	}
	m, err := l.lock(ctx, q, d.email, false, now)
	if err != nil {
		return debit{}, nil, err
	}
	again, err := l.liveDebit(ctx, q, uid)
	switch {
	case err != nil:
		return debit{}, nil, err
	case !m.exists || again.email != m.email:
		// Refunded and debited anew to another member meanwhile.
		return debit{}, nil, fmt.Errorf("debit %s changed hands: %w", uid, ErrConflict)
	}
	return again, m, l.expire(ctx, q, m, now)
}

// Refund gives a live debit back, once; see credits.Store.
//
// The credit goes back to the lots it was taken from. A lot that has
// expired since the debit gets its part back too, and the expire that
// follows at once writes it off again: the member sees a refund entry and
// then an expire entry, and expired credit is never spendable.
func (l *Ledger) Refund(ctx context.Context, uid, note string) (credits.Entry, error) {
	if uid == "" {
		return credits.Entry{}, fmt.Errorf("refund: empty booking uid: %w", credits.ErrInvalid)
	}
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		d, m, err := l.lockDebit(ctx, q, uid, now)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qEndDebit, d.id, stateRefunded, l.d.Time(now)); err != nil {
			return err
		}
		if err := l.restore(ctx, q, d.id); err != nil {
			return err
		}
		got, err := l.appendEntry(ctx, q, m, newEntry{kind: credits.KindRefund, amount: d.amount,
			uid: uid, note: note}, now)
		if err != nil {
			return err
		}
		e = got
		return l.expire(ctx, q, m, now)
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("refund %s: %w", uid, err)
	}
	return e, nil
}

// Forfeit keeps a live debit for good; see credits.Store.
func (l *Ledger) Forfeit(ctx context.Context, uid, note string) (credits.Entry, error) {
	if uid == "" {
		return credits.Entry{}, fmt.Errorf("forfeit: empty booking uid: %w", credits.ErrInvalid)
	}
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		d, m, err := l.lockDebit(ctx, q, uid, now)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qEndDebit, d.id, stateForfeited, l.d.Time(now)); err != nil {
			return err
		}
		e, err = l.appendEntry(ctx, q, m, newEntry{kind: credits.KindForfeit, uid: uid, note: note}, now)
		return err
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("forfeit %s: %w", uid, err)
	}
	return e, nil
}

// Move carries a live debit over to a new booking uid; see credits.Store.
// The old debit row ends as moved and a new live row for newUID takes over
// its entry and its allocations, so a later refund of newUID returns the
// credit to the original lots.
func (l *Ledger) Move(ctx context.Context, oldUID, newUID, note string) (credits.Entry, error) {
	if oldUID == "" || newUID == "" {
		return credits.Entry{}, fmt.Errorf("move %q to %q: %w", oldUID, newUID, credits.ErrInvalid)
	}
	if note == "" {
		note = "moved from " + oldUID
	}
	var e credits.Entry
	err := l.write(ctx, func(q Querier, now time.Time) error {
		if live, err := l.liveDebit(ctx, q, newUID); err == nil {
			e, err = l.entry(ctx, q, qEntryByID, live.entryID)
			return err
		} else if !errors.Is(err, credits.ErrNotFound) {
			return err
		}
		d, m, err := l.lockDebit(ctx, q, oldUID, now)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qEndDebit, d.id, stateMoved, l.d.Time(now)); err != nil {
			return err
		}
		var id int64
		err = q.QueryRow(ctx, qInsertDebit, newUID, d.email, d.amount, d.entryID, d.id, l.d.Time(now)).Scan(&id)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qCopyAllocations, d.id, id); err != nil {
			return err
		}
		e, err = l.appendEntry(ctx, q, m, newEntry{kind: credits.KindTransfer, uid: newUID, note: note}, now)
		return err
	})
	if err != nil {
		return credits.Entry{}, fmt.Errorf("move %s to %s: %w", oldUID, newUID, err)
	}
	return e, nil
}
