package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// SetPrice sets the cost of an event type; see credits.Store.
func (l *Ledger) SetPrice(ctx context.Context, eventTypeID, cost int64) error {
	if cost < 0 {
		return fmt.Errorf("set price of %d to %d: %w", eventTypeID, cost, credits.ErrInvalid)
	}
	err := l.write(ctx, func(q Querier, now time.Time) error {
		return q.Exec(ctx, qSetPrice, eventTypeID, cost, l.d.Time(now))
	})
	if err != nil {
		return fmt.Errorf("set price of %d: %w", eventTypeID, err)
	}
	return nil
}

// Price returns the cost of an event type; see credits.Store.
func (l *Ledger) Price(ctx context.Context, eventTypeID int64) (int64, bool, error) {
	var cost int64
	err := l.db.QueryRow(ctx, qPrice, eventTypeID).Scan(&cost)
	switch {
	case errors.Is(err, credits.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("price of %d: %w", eventTypeID, err)
	}
	return cost, true, nil
}

// Prices lists every set price; see credits.Store.
func (l *Ledger) Prices(ctx context.Context) ([]credits.Price, error) {
	ps, err := collect(ctx, l.db, func(r Rows, p *credits.Price) error {
		return r.Scan(&p.EventTypeID, &p.Cost, timeScan{&p.UpdatedAt})
	}, qPrices)
	if err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	if ps == nil {
		ps = []credits.Price{} // lists encode as [], not null
	}
	return ps, nil
}

// SaveBooking upserts a booking record; see credits.Store. The email is
// normalised and UpdatedAt set to now.
func (l *Ledger) SaveBooking(ctx context.Context, b credits.Booking) error {
	if b.UID == "" {
		return fmt.Errorf("save booking: empty uid: %w", credits.ErrInvalid)
	}
	start := truncate(b.StartTime)
	err := l.writeOne(ctx, func(now time.Time) error {
		return l.db.Exec(ctx, qSaveBooking, b.UID, credits.NormalizeEmail(b.Email), b.EventTypeID, b.Cost,
			b.SeenPending, b.Decision, b.Reason, l.timeArg(start), l.d.Time(now))
	})
	if err != nil {
		return fmt.Errorf("save booking %s: %w", b.UID, err)
	}
	return nil
}

// GetBooking returns a booking record; see credits.Store.
func (l *Ledger) GetBooking(ctx context.Context, uid string) (credits.Booking, error) {
	var b credits.Booking
	err := l.db.QueryRow(ctx, qGetBooking, uid).Scan(&b.UID, &b.Email, &b.EventTypeID, &b.Cost,
		&b.SeenPending, &b.Decision, &b.Reason, nullTimeScan{&b.StartTime}, timeScan{&b.UpdatedAt})
	if err != nil {
		return credits.Booking{}, fmt.Errorf("get booking %s: %w", uid, err)
	}
	return b, nil
}
