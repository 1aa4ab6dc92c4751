-- Booking tasks that ran out of retries, copied from asynq's archive, which
-- drops them beyond 10,000 per queue or 90 days. Operational records, not
-- ledger entries: a task that dies again after a replay updates its row, so
-- there is no append-only trigger here.

CREATE TABLE dead_letters (
    -- The asynq task id.
    id          text PRIMARY KEY,
    queue       text NOT NULL DEFAULT '',
    task_type   text NOT NULL DEFAULT '',
    -- The payload as enqueued, byte for byte (bytea, not json/jsonb, which
    -- would reformat it).
    payload     bytea NOT NULL DEFAULT '',
    booking_uid text NOT NULL DEFAULT '',
    last_error  text NOT NULL DEFAULT '',
    retried     bigint NOT NULL DEFAULT 0 CHECK (retried >= 0),
    failed_at   timestamptz NOT NULL,
    -- NULL while waiting for a replay; cleared when the task dies again.
    replayed_at timestamptz,
    replays     bigint NOT NULL DEFAULT 0 CHECK (replays >= 0)
);

CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
CREATE INDEX dead_letters_pending ON dead_letters (failed_at) WHERE replayed_at IS NULL;
