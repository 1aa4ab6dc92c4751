-- The ledger, PostgreSQL dialect. Writers lock the member's row
-- (SELECT ... FOR UPDATE); the unique indexes are the backstop.

CREATE TABLE members (
    email      text PRIMARY KEY,
    -- Running balance, the sum of the member's entries; 0 for an alias.
    balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    -- Set for an alias: the canonical member it spends for (never another alias).
    alias_of   text REFERENCES members (email),
    created_at timestamptz NOT NULL,
    CHECK (alias_of IS NULL OR (alias_of <> email AND balance = 0))
);

CREATE TABLE entries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL REFERENCES members (email),
    kind          text NOT NULL CHECK (kind IN
                  ('grant', 'debit', 'refund', 'forfeit', 'expire', 'adjust', 'transfer', 'override')),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    booking_uid   text NOT NULL DEFAULT '',
    note          text NOT NULL DEFAULT '',
    expires_at    timestamptz,
    -- Idempotency key of a grant (CSV import).
    ref           text UNIQUE,
    created_at    timestamptz NOT NULL
);

CREATE INDEX entries_member ON entries (email, id);
CREATE INDEX entries_booking ON entries (booking_uid) WHERE booking_uid <> '';

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER entries_no_update_delete BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();

-- What remains of each grant or positive adjustment; id is that entry's id.
CREATE TABLE lots (
    id         bigint PRIMARY KEY REFERENCES entries (id),
    email      text NOT NULL REFERENCES members (email),
    amount     bigint NOT NULL CHECK (amount > 0),
    remaining  bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at timestamptz
);

CREATE INDEX lots_spendable ON lots (email, expires_at) WHERE remaining > 0;

-- A booking's charge. A moved debit ends as 'moved' and a new live row for
-- the new uid takes over its entry and allocations.
CREATE TABLE debits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_uid text NOT NULL,
    email       text NOT NULL REFERENCES members (email),
    amount      bigint NOT NULL CHECK (amount > 0),
    entry_id    bigint NOT NULL REFERENCES entries (id),
    state       text NOT NULL CHECK (state IN ('live', 'refunded', 'forfeited', 'moved')),
    moved_from  bigint REFERENCES debits (id),
    created_at  timestamptz NOT NULL,
    ended_at    timestamptz
);

-- At most one live debit per booking uid, whoever races for it.
CREATE UNIQUE INDEX debits_one_live ON debits (booking_uid) WHERE state = 'live';

-- How much of a debit came from which lot, so a refund can put it back.
CREATE TABLE allocations (
    debit_id bigint NOT NULL REFERENCES debits (id),
    lot_id   bigint NOT NULL REFERENCES lots (id),
    amount   bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (debit_id, lot_id)
);

CREATE TABLE prices (
    event_type_id bigint PRIMARY KEY,
    cost          bigint NOT NULL CHECK (cost >= 0),
    updated_at    timestamptz NOT NULL
);

CREATE TABLE bookings (
    uid           text PRIMARY KEY,
    email         text NOT NULL DEFAULT '',
    event_type_id bigint NOT NULL DEFAULT 0,
    cost          bigint NOT NULL DEFAULT 0,
    seen_pending  boolean NOT NULL DEFAULT false,
    decision      text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    start_time    timestamptz,
    updated_at    timestamptz NOT NULL
);
