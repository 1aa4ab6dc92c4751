package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// lot is what remains of one grant; its id is the id of the grant (or
// adjust) entry that created it.
type lot struct {
	id        int64
	remaining int64
}

func scanLot(r Rows, l *lot) error { return r.Scan(&l.id, &l.remaining) }

// allocation is how much a debit took from one lot.
type allocation struct {
	lot    int64
	amount int64
}

func scanAllocation(r Rows, a *allocation) error { return r.Scan(&a.lot, &a.amount) }

// expire writes off what remains of m's lots whose expiry has passed, one
// expire entry per lot. Expiry is lazy: every operation on a member calls
// this first, so a balance never includes expired credit. Deterministic:
// the same operations at the same clock readings write the same entries.
func (l *Ledger) expire(ctx context.Context, q Querier, m *member, now time.Time) error {
	if !m.exists {
		return nil
	}
	lots, err := collect(ctx, q, scanLot, qExpiredLots, m.email, l.d.Time(now))
	if err != nil {
		return err
	}
	for _, lt := range lots {
		_, err := l.appendEntry(ctx, q, m, newEntry{kind: credits.KindExpire, amount: -lt.remaining,
			note: fmt.Sprintf("grant #%d expired", lt.id)}, now)
		if err != nil {
			return err
		}
		if err := q.Exec(ctx, qSetLotRemaining, lt.id, 0); err != nil {
			return err
		}
	}
	return nil
}

// consume takes amount from m's spendable lots, those that expire first
// first and those that never expire last, and says what it took from each.
// It does not write the entry; the caller does, and checks the balance
// before.
func (l *Ledger) consume(ctx context.Context, q Querier, m *member, amount int64, now time.Time) ([]allocation, error) {
	lots, err := collect(ctx, q, scanLot, qSpendableLots, m.email, l.d.Time(now))
	if err != nil {
		return nil, err
	}
	var allocs []allocation
	left := amount
	for _, lt := range lots {
		if left == 0 {
			break
		}
		take := min(lt.remaining, left)
		if err := q.Exec(ctx, qSetLotRemaining, lt.id, lt.remaining-take); err != nil {
			return nil, err
		}
		allocs = append(allocs, allocation{lot: lt.id, amount: take})
		left -= take
	}
	if left > 0 {
		return nil, fmt.Errorf("lots of %s hold %d less than its balance %d", m.email, left, m.balance)
	}
	return allocs, nil
}

// restore gives a debit's allocations back to their lots. Lots that have
// expired meanwhile get their credit back too; the caller then calls expire
// so that it is written off at once rather than spent.
func (l *Ledger) restore(ctx context.Context, q Querier, debitID int64) error {
	allocs, err := collect(ctx, q, scanAllocation, qAllocations, debitID)
	if err != nil {
		return err
	}
	for _, a := range allocs {
		if err := q.Exec(ctx, qAddLotRemaining, a.lot, a.amount); err != nil {
			return err
		}
	}
	return nil
}
