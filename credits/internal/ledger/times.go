package ledger

import (
	"fmt"
	"time"
)

// The databases keep times differently: PostgreSQL as timestamptz (pgx
// hands back a time.Time), SQLite as INTEGER microseconds since the epoch
// (Dialect.Time writes them). These scanners read either, in UTC.

// timeScan scans a NOT NULL time column.
type timeScan struct{ dst *time.Time }

// Scan implements sql.Scanner, which pgx honours too.
func (s timeScan) Scan(src any) error {
	t, ok, err := decodeTime(src)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("scan time: unexpected NULL")
	}
	*s.dst = t
	return nil
}

// nullTimeScan scans a nullable time column into a *time.Time.
type nullTimeScan struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (s nullTimeScan) Scan(src any) error {
	t, ok, err := decodeTime(src)
	if err != nil {
		return err
	}
	*s.dst = nil
	if ok {
		*s.dst = &t
	}
	return nil
}

func decodeTime(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case int64:
		return time.UnixMicro(v).UTC(), true, nil
	default:
		return time.Time{}, false, fmt.Errorf("scan time: unsupported %T", src)
	}
}

// truncate brings an optional time to the stored precision, in UTC.
func truncate(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}
