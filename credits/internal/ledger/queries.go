package ledger

// The SQL below is shared by both dialects: $N placeholders (SQLite reads
// $N as the N-th argument), ON CONFLICT, RETURNING and NULLS LAST mean the
// same in PostgreSQL and SQLite. Times are bound through Dialect.Time.

// Members.
const (
	qInsertMember = `INSERT INTO members (email, balance, created_at)
VALUES ($1, 0, $2) ON CONFLICT (email) DO NOTHING`

	qInsertAlias = `INSERT INTO members (email, balance, alias_of, created_at)
VALUES ($1, 0, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING email`

	qAliasOf = `SELECT COALESCE(alias_of, '') FROM members WHERE email = $1`

	qSetBalance = `UPDATE members SET balance = $2 WHERE email = $1`
)

// Entries.
const (
	entryColumns = `id, email, kind, amount, balance_after, booking_uid, note, expires_at, created_at`

	qInsertEntry = `INSERT INTO entries
(email, kind, amount, balance_after, booking_uid, note, expires_at, ref, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`

	qEntryByRef = `SELECT ` + entryColumns + ` FROM entries WHERE ref = $1`

	qEntryByID = `SELECT ` + entryColumns + ` FROM entries WHERE id = $1`

	qHistory = `SELECT ` + entryColumns + ` FROM entries WHERE email = $1 ORDER BY id`
)

// Lots: what is left of each grant.
const (
	qInsertLot = `INSERT INTO lots (id, email, amount, remaining, expires_at)
VALUES ($1, $2, $3, $3, $4)`

	qExpiredLots = `SELECT id, remaining FROM lots
WHERE email = $1 AND remaining > 0 AND expires_at <= $2
ORDER BY expires_at, id`

	qSpendableLots = `SELECT id, remaining FROM lots
WHERE email = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)
ORDER BY expires_at NULLS LAST, id`

	qSetLotRemaining = `UPDATE lots SET remaining = $2 WHERE id = $1`

	qAddLotRemaining = `UPDATE lots SET remaining = remaining + $2 WHERE id = $1`
)

// Debits and where their credit came from.
const (
	qInsertDebit = `INSERT INTO debits
(booking_uid, email, amount, entry_id, state, moved_from, created_at)
VALUES ($1, $2, $3, $4, 'live', $5, $6) RETURNING id`

	qLiveDebit = `SELECT id, email, amount, entry_id FROM debits
WHERE booking_uid = $1 AND state = 'live'`

	qEndDebit = `UPDATE debits SET state = $2, ended_at = $3 WHERE id = $1 AND state = 'live'`

	qInsertAllocation = `INSERT INTO allocations (debit_id, lot_id, amount) VALUES ($1, $2, $3)`

	qAllocations = `SELECT lot_id, amount FROM allocations WHERE debit_id = $1 ORDER BY lot_id`

	qCopyAllocations = `INSERT INTO allocations (debit_id, lot_id, amount)
SELECT $2, lot_id, amount FROM allocations WHERE debit_id = $1`
)

// Prices and bookings.
const (
	qSetPrice = `INSERT INTO prices (event_type_id, cost, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (event_type_id) DO UPDATE SET cost = excluded.cost, updated_at = excluded.updated_at`

	qPrice = `SELECT cost FROM prices WHERE event_type_id = $1`

	qPrices = `SELECT event_type_id, cost, updated_at FROM prices ORDER BY event_type_id`

	qSaveBooking = `INSERT INTO bookings
(uid, email, event_type_id, cost, seen_pending, decision, reason, start_time, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (uid) DO UPDATE SET
email = excluded.email, event_type_id = excluded.event_type_id, cost = excluded.cost,
seen_pending = excluded.seen_pending, decision = excluded.decision,
reason = excluded.reason, start_time = excluded.start_time, updated_at = excluded.updated_at`

	qGetBooking = `SELECT uid, email, event_type_id, cost, seen_pending, decision, reason,
start_time, updated_at FROM bookings WHERE uid = $1`
)

// Migrations.
const (
	qSchemaVersion = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`

	qRecordMigration = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
)

// Dead letters: operational records, updated in place (unlike entries).
const (
	deadLetterColumns = `id, queue, task_type, payload, booking_uid, last_error, retried,
failed_at, replayed_at, replays`

	// A task that dies again after a replay keeps its identity and its
	// count of replays, and waits again.
	qSaveDeadLetter = `INSERT INTO dead_letters
(id, queue, task_type, payload, booking_uid, last_error, retried, failed_at, replayed_at, replays)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0)
ON CONFLICT (id) DO UPDATE SET
last_error = excluded.last_error, retried = excluded.retried, failed_at = excluded.failed_at,
replayed_at = NULL`

	qDeadLetters = `SELECT ` + deadLetterColumns + ` FROM dead_letters
ORDER BY failed_at DESC, id`

	qPendingDeadLetters = `SELECT ` + deadLetterColumns + ` FROM dead_letters
WHERE replayed_at IS NULL ORDER BY failed_at DESC, id`

	qGetDeadLetter = `SELECT ` + deadLetterColumns + ` FROM dead_letters WHERE id = $1`

	qMarkReplayed = `UPDATE dead_letters SET replayed_at = $2, replays = replays + 1
WHERE id = $1 RETURNING replays`
)
