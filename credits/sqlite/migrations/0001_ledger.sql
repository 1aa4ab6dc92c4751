-- The ledger, SQLite dialect. Times are INTEGER microseconds since the Unix
-- epoch (UTC); STRICT tables keep every column to its declared type.

CREATE TABLE members (
    email      TEXT PRIMARY KEY,
    -- Running balance, the sum of the member's entries; 0 for an alias.
    balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    -- Set for an alias: the canonical member it spends for (never another alias).
    alias_of   TEXT REFERENCES members (email),
    created_at INTEGER NOT NULL,
    CHECK (alias_of IS NULL OR (alias_of <> email AND balance = 0))
) STRICT;

CREATE TABLE entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL REFERENCES members (email),
    kind          TEXT NOT NULL CHECK (kind IN
                  ('grant', 'debit', 'refund', 'forfeit', 'expire', 'adjust', 'transfer', 'override')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    booking_uid   TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    expires_at    INTEGER,
    -- Idempotency key of a grant (CSV import).
    ref           TEXT UNIQUE,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX entries_member ON entries (email, id);
CREATE INDEX entries_booking ON entries (booking_uid) WHERE booking_uid <> '';

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;

-- What remains of each grant or positive adjustment; id is that entry's id.
CREATE TABLE lots (
    id         INTEGER PRIMARY KEY REFERENCES entries (id),
    email      TEXT NOT NULL REFERENCES members (email),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    remaining  INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at INTEGER
) STRICT;

CREATE INDEX lots_spendable ON lots (email, expires_at) WHERE remaining > 0;

-- A booking's charge. A moved debit ends as 'moved' and a new live row for
-- the new uid takes over its entry and allocations.
CREATE TABLE debits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_uid TEXT NOT NULL,
    email       TEXT NOT NULL REFERENCES members (email),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    entry_id    INTEGER NOT NULL REFERENCES entries (id),
    state       TEXT NOT NULL CHECK (state IN ('live', 'refunded', 'forfeited', 'moved')),
    moved_from  INTEGER REFERENCES debits (id),
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT;

-- At most one live debit per booking uid, whoever races for it.
CREATE UNIQUE INDEX debits_one_live ON debits (booking_uid) WHERE state = 'live';

-- How much of a debit came from which lot, so a refund can put it back.
CREATE TABLE allocations (
    debit_id INTEGER NOT NULL REFERENCES debits (id),
    lot_id   INTEGER NOT NULL REFERENCES lots (id),
    amount   INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (debit_id, lot_id)
) STRICT;

CREATE TABLE prices (
    event_type_id INTEGER PRIMARY KEY,
    cost          INTEGER NOT NULL CHECK (cost >= 0),
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE bookings (
    uid           TEXT PRIMARY KEY,
    email         TEXT NOT NULL DEFAULT '',
    event_type_id INTEGER NOT NULL DEFAULT 0,
    cost          INTEGER NOT NULL DEFAULT 0,
    seen_pending  INTEGER NOT NULL DEFAULT 0 CHECK (seen_pending IN (0, 1)),
    decision      TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    start_time    INTEGER,
    updated_at    INTEGER NOT NULL
) STRICT;
