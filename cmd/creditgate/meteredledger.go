package main

import (
	"context"

	"github.com/creditgate/creditgate/credits"
)

// meteredLedger counts the ledger errors of the calls the worker makes.
type meteredLedger struct {
	credits.Store
	m *metrics
}

func (l meteredLedger) Debit(ctx context.Context, d credits.Debit) (credits.DebitResult, error) {
	r, err := l.Store.Debit(ctx, d)
	l.m.observeLedger("debit", err)
	return r, err
}

func (l meteredLedger) LiveDebit(ctx context.Context, uid string) (credits.Entry, error) {
	e, err := l.Store.LiveDebit(ctx, uid)
	l.m.observeLedger("live_debit", err)
	return e, err
}

func (l meteredLedger) Refund(ctx context.Context, uid, note string) (credits.Entry, error) {
	e, err := l.Store.Refund(ctx, uid, note)
	l.m.observeLedger("refund", err)
	return e, err
}

func (l meteredLedger) Forfeit(ctx context.Context, uid, note string) (credits.Entry, error) {
	e, err := l.Store.Forfeit(ctx, uid, note)
	l.m.observeLedger("forfeit", err)
	return e, err
}

func (l meteredLedger) Move(ctx context.Context, oldUID, newUID, note string) (credits.Entry, error) {
	e, err := l.Store.Move(ctx, oldUID, newUID, note)
	l.m.observeLedger("move", err)
	return e, err
}

func (l meteredLedger) Record(ctx context.Context, email string, kind credits.Kind, uid, note string) (credits.Entry, error) {
	e, err := l.Store.Record(ctx, email, kind, uid, note)
	l.m.observeLedger("record", err)
	return e, err
}

func (l meteredLedger) Price(ctx context.Context, eventTypeID int64) (int64, bool, error) {
	c, ok, err := l.Store.Price(ctx, eventTypeID)
	l.m.observeLedger("price", err)
	return c, ok, err
}

func (l meteredLedger) SaveBooking(ctx context.Context, b credits.Booking) error {
	err := l.Store.SaveBooking(ctx, b)
	l.m.observeLedger("save_booking", err)
	return err
}

func (l meteredLedger) GetBooking(ctx context.Context, uid string) (credits.Booking, error) {
	b, err := l.Store.GetBooking(ctx, uid)
	l.m.observeLedger("get_booking", err)
	return b, err
}
