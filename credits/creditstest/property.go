package creditstest

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/creditgate/creditgate/credits"
)

// testProperty runs random sequences of operations, each sequence on its
// own member of one store, against a model of the ledger (lots spent
// earliest expiry first, refunds to the lots they came from), and checks
// after every step: the balance is the model's, the sum of the entries and
// the last balance_after; it is never negative; a uid has a live debit
// exactly when the model says; refunds only follow debits.
func testProperty(t *testing.T, open Opener) {
	b := setup(t, open)
	var seq atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		n := seq.Add(1)
		p := &prop{b: b, m: model{live: map[string][]modelAlloc{}},
			email: fmt.Sprintf("prop%d@example.com", n), alias: fmt.Sprintf("alias%d@example.com", n)}
		for i := range 5 {
			p.uids = append(p.uids, fmt.Sprintf("p%d-uid-%d", n, i))
		}
		require.NoError(rt, b.s.Alias(b.ctx, p.email, p.alias))
		rt.Repeat(map[string]func(*rapid.T){
			"grant":   p.grant,
			"debit":   p.debit,
			"redebit": p.redebit,
			"refund":  p.refund,
			"forfeit": p.forfeit,
			"move":    p.move,
			"adjust":  p.adjust,
			"advance": p.advance,
			"":        p.check,
		})
	})
}

type prop struct {
	b            *bundle
	m            model
	email, alias string
	uids         []string
}

// who picks the address an operation names: the member or its alias.
func (p *prop) who(rt *rapid.T) string {
	return rapid.SampledFrom([]string{p.email, p.alias}).Draw(rt, "who")
}

func (p *prop) uid(rt *rapid.T, label string) string {
	return rapid.SampledFrom(p.uids).Draw(rt, label)
}

// now is the store's clock, after expiring the model's lots as the store
// will before the operation.
func (p *prop) now() time.Time {
	now := p.b.clock.Now()
	p.m.expire(now)
	return now
}

func (p *prop) grant(rt *rapid.T) {
	amount := rapid.Int64Range(1, 5).Draw(rt, "amount")
	var exp *time.Time
	if rapid.Bool().Draw(rt, "expires") {
		exp = p.b.clock.at(time.Duration(rapid.IntRange(1, 72).Draw(rt, "hours")) * time.Hour)
	}
	p.now()
	e, err := p.b.s.Grant(p.b.ctx, p.who(rt), amount, credits.GrantOptions{ExpiresAt: exp})
	require.NoError(rt, err)
	p.m.add(amount, exp)
	require.Equal(rt, p.m.balance, e.BalanceAfter)
}

func (p *prop) debit(rt *rapid.T) {
	uid := p.uid(rt, "uid")
	amount := rapid.Int64Range(1, 3).Draw(rt, "amount")
	p.now()
	res, err := p.b.s.Debit(p.b.ctx, credits.Debit{Email: p.who(rt), BookingUID: uid, Amount: amount})
	var short *credits.InsufficientError
	switch {
	case p.m.live[uid] != nil:
		require.NoError(rt, err)
		require.True(rt, res.Already)
	case p.m.balance < amount:
		require.ErrorAs(rt, err, &short)
		require.Equal(rt, p.m.balance, short.Balance)
	default:
		require.NoError(rt, err)
		require.False(rt, res.Already)
		p.m.live[uid] = p.m.spend(amount)
		require.Equal(rt, p.m.balance, res.Balance)
	}
}

func (p *prop) redebit(rt *rapid.T) {
	var live []string
	for _, u := range p.uids {
		if p.m.live[u] != nil {
			live = append(live, u)
		}
	}
	if len(live) == 0 {
		rt.Skip("no live debit")
	}
	uid := rapid.SampledFrom(live).Draw(rt, "uid")
	p.now()
	res, err := p.b.s.Debit(p.b.ctx, credits.Debit{Email: p.who(rt), BookingUID: uid, Amount: 1})
	require.NoError(rt, err)
	require.True(rt, res.Already)
}

func (p *prop) refund(rt *rapid.T) {
	uid := p.uid(rt, "uid")
	now := p.now()
	_, err := p.b.s.Refund(p.b.ctx, uid, "")
	allocs := p.m.live[uid]
	if allocs == nil {
		require.ErrorIs(rt, err, credits.ErrNotFound)
		return
	}
	require.NoError(rt, err)
	delete(p.m.live, uid)
	for _, a := range allocs {
		a.lot.remaining += a.amount
		p.m.balance += a.amount
	}
	p.m.expire(now)
}

func (p *prop) forfeit(rt *rapid.T) {
	uid := p.uid(rt, "uid")
	p.now()
	_, err := p.b.s.Forfeit(p.b.ctx, uid, "")
	if p.m.live[uid] == nil {
		require.ErrorIs(rt, err, credits.ErrNotFound)
		return
	}
	require.NoError(rt, err)
	delete(p.m.live, uid)
}

func (p *prop) move(rt *rapid.T) {
	from, to := p.uid(rt, "from"), p.uid(rt, "to")
	p.now()
	e, err := p.b.s.Move(p.b.ctx, from, to, "")
	switch {
	case p.m.live[to] != nil:
		require.NoError(rt, err)
		require.Equal(rt, credits.KindDebit, e.Kind)
	case p.m.live[from] == nil:
		require.ErrorIs(rt, err, credits.ErrNotFound)
	default:
		require.NoError(rt, err)
		require.Equal(rt, credits.KindTransfer, e.Kind)
		p.m.live[to] = p.m.live[from]
		delete(p.m.live, from)
	}
}

func (p *prop) adjust(rt *rapid.T) {
	amount := rapid.Int64Range(1, 5).Draw(rt, "amount")
	if rapid.Bool().Draw(rt, "negative") {
		amount = -amount
	}
	p.now()
	_, err := p.b.s.Adjust(p.b.ctx, p.who(rt), amount, "")
	switch {
	case amount > 0:
		require.NoError(rt, err)
		p.m.add(amount, nil)
	case p.m.balance < -amount:
		require.ErrorIs(rt, err, credits.ErrInsufficient)
	default:
		require.NoError(rt, err)
		p.m.spend(-amount)
	}
}

func (p *prop) advance(rt *rapid.T) {
	p.b.clock.Advance(time.Duration(rapid.IntRange(1, 48).Draw(rt, "hours")) * time.Hour)
}

func (p *prop) check(rt *rapid.T) {
	p.now()
	bal := requireConsistent(rt, p.b.ctx, p.b.s, p.who(rt))
	require.Equal(rt, p.m.balance, bal)
	for _, uid := range p.uids {
		e, err := p.b.s.LiveDebit(p.b.ctx, uid)
		if p.m.live[uid] == nil {
			require.ErrorIs(rt, err, credits.ErrNotFound, uid)
			continue
		}
		require.NoError(rt, err, uid)
		require.Equal(rt, credits.KindDebit, e.Kind)
	}
	es, err := p.b.s.History(p.b.ctx, p.email)
	require.NoError(rt, err)
	charged := map[string]int{}
	for _, e := range es {
		switch e.Kind {
		case credits.KindDebit, credits.KindTransfer:
			charged[e.BookingUID]++
		case credits.KindRefund:
			charged[e.BookingUID]--
			require.GreaterOrEqual(rt, charged[e.BookingUID], 0, "refund of %s without a debit", e.BookingUID)
		}
	}
}

// model is the ledger of one member, kept in memory.
type model struct {
	lots    []*modelLot // in creation order, which is id order
	live    map[string][]modelAlloc
	balance int64
}

type modelLot struct {
	remaining int64
	expires   *time.Time
}

type modelAlloc struct {
	lot    *modelLot
	amount int64
}

func (m *model) add(amount int64, expires *time.Time) {
	m.lots = append(m.lots, &modelLot{remaining: amount, expires: expires})
	m.balance += amount
}

func (m *model) expire(now time.Time) {
	for _, l := range m.lots {
		if l.expires != nil && !now.Before(*l.expires) {
			m.balance -= l.remaining
			l.remaining = 0
		}
	}
}

// spend takes amount from the lots that expire first, never-expiring last,
// ties by age; the caller has checked the balance and expired the lots.
func (m *model) spend(amount int64) []modelAlloc {
	lots := slices.DeleteFunc(slices.Clone(m.lots), func(l *modelLot) bool { return l.remaining == 0 })
	slices.SortStableFunc(lots, func(a, b *modelLot) int {
		switch {
		case a.expires == nil && b.expires == nil:
			return 0
		case a.expires == nil:
			return 1
		case b.expires == nil:
			return -1
		}
		return a.expires.Compare(*b.expires)
	})
	var allocs []modelAlloc
	for _, l := range lots {
		take := min(l.remaining, amount)
		if take == 0 {
			break
		}
		l.remaining -= take
		amount -= take
		m.balance -= take
		allocs = append(allocs, modelAlloc{lot: l, amount: take})
	}
	if amount != 0 {
		panic("model: spend beyond balance")
	}
	return allocs
}
