package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// SaveDeadLetter upserts a dead letter by ID; see credits.Store.
func (l *Ledger) SaveDeadLetter(ctx context.Context, d credits.DeadLetter) error {
	switch {
	case d.ID == "":
		return fmt.Errorf("save dead letter: empty id: %w", credits.ErrInvalid)
	case d.Retried < 0:
		return fmt.Errorf("save dead letter %s: retried %d: %w", d.ID, d.Retried, credits.ErrInvalid)
	}
	payload := d.Payload
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	err := l.write(ctx, func(q Querier, now time.Time) error {
		failedAt := now
		if !d.FailedAt.IsZero() {
			failedAt = d.FailedAt.UTC().Truncate(time.Microsecond)
		}
		return q.Exec(ctx, qSaveDeadLetter, d.ID, d.Queue, d.Type, payload, d.BookingUID, d.Error,
			d.Retried, l.d.Time(failedAt))
	})
	if err != nil {
		return fmt.Errorf("save dead letter %s: %w", d.ID, err)
	}
	return nil
}

// DeadLetters lists dead letters, newest failure first; see credits.Store.
func (l *Ledger) DeadLetters(ctx context.Context, pending bool) ([]credits.DeadLetter, error) {
	query := qDeadLetters
	if pending {
		query = qPendingDeadLetters
	}
	ds, err := collect(ctx, l.db, func(r Rows, d *credits.DeadLetter) error {
		return r.Scan(deadLetterDest(d)...)
	}, query)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	for i := range ds {
		ds[i].Payload = nilIfEmpty(ds[i].Payload)
	}
	if ds == nil {
		ds = []credits.DeadLetter{} // lists encode as [], not null
	}
	return ds, nil
}

// GetDeadLetter returns one dead letter; see credits.Store.
func (l *Ledger) GetDeadLetter(ctx context.Context, id string) (credits.DeadLetter, error) {
	var d credits.DeadLetter
	if err := l.db.QueryRow(ctx, qGetDeadLetter, id).Scan(deadLetterDest(&d)...); err != nil {
		return credits.DeadLetter{}, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	d.Payload = nilIfEmpty(d.Payload)
	return d, nil
}

// MarkReplayed records a replay of a dead letter; see credits.Store.
func (l *Ledger) MarkReplayed(ctx context.Context, id string, at time.Time) error {
	err := l.write(ctx, func(q Querier, now time.Time) error {
		if !at.IsZero() {
			now = at.UTC().Truncate(time.Microsecond)
		}
		var replays int
		return q.QueryRow(ctx, qMarkReplayed, id, l.d.Time(now)).Scan(&replays)
	})
	if err != nil {
		return fmt.Errorf("mark dead letter %s replayed: %w", id, err)
	}
	return nil
}

// deadLetterDest lists where the columns of deadLetterColumns go.
func deadLetterDest(d *credits.DeadLetter) []any {
	return []any{&d.ID, &d.Queue, &d.Type, &d.Payload, &d.BookingUID, &d.Error, &d.Retried,
		timeScan{&d.FailedAt}, nullTimeScan{&d.ReplayedAt}, &d.Replays}
}

// nilIfEmpty makes an empty payload read back the same from either
// database (one returns an empty slice, the other may return nil).
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
