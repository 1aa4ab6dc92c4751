-- Booking tasks that ran out of retries, copied from asynq's archive, which
-- drops them beyond 10,000 per queue or 90 days. Operational records, not
-- ledger entries: a task that dies again after a replay updates its row, so
-- there is no append-only trigger here.

CREATE TABLE dead_letters (
    -- The asynq task id.
    id          TEXT PRIMARY KEY,
    queue       TEXT NOT NULL DEFAULT '',
    task_type   TEXT NOT NULL DEFAULT '',
    -- The payload as enqueued, byte for byte (BLOB, so that bytes which
    -- are not UTF-8 survive too).
    payload     BLOB NOT NULL DEFAULT x'',
    booking_uid TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    retried     INTEGER NOT NULL DEFAULT 0 CHECK (retried >= 0),
    failed_at   INTEGER NOT NULL,
    -- NULL while waiting for a replay; cleared when the task dies again.
    replayed_at INTEGER,
    replays     INTEGER NOT NULL DEFAULT 0 CHECK (replays >= 0)
) STRICT;

CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
CREATE INDEX dead_letters_pending ON dead_letters (failed_at) WHERE replayed_at IS NULL;
