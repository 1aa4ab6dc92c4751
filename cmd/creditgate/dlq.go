package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker"
)

// deadLetterStore is the part of the ledger that keeps dead letters.
type deadLetterStore interface {
	SaveDeadLetter(ctx context.Context, d credits.DeadLetter) error
	DeadLetters(ctx context.Context, pending bool) ([]credits.DeadLetter, error)
	GetDeadLetter(ctx context.Context, id string) (credits.DeadLetter, error)
	MarkReplayed(ctx context.Context, id string, at time.Time) error
}

// final reports whether asynq will not retry a failed task again: it spent
// its retries, or its handler said a retry cannot help.
func final(ctx context.Context, err error) bool {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return finalAttempt(retried, maxRetry, err)
}

func finalAttempt(retried, maxRetry int, err error) bool {
	switch {
	case errors.Is(err, asynq.SkipRetry):
		return true
	case !worker.IsFailure(err):
		return false // rate limited: retried without counting
	}
	return retried >= maxRetry
}

// keepDeadLetter copies a task asynq is about to archive into the
// database, where it outlives asynq's archive limits (10,000 tasks, 90 days).
func keepDeadLetter(ctx context.Context, store deadLetterStore, t *asynq.Task, err error) (credits.DeadLetter, error) {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	d := credits.DeadLetter{ID: id, Queue: queue, Type: t.Type(), Payload: t.Payload(), Error: err.Error(),
		Retried: retried, FailedAt: time.Now()}
	var bt worker.BookingTask
	if json.Unmarshal(t.Payload(), &bt) == nil {
		d.BookingUID = bt.UID
	}
	// The task's own context may be done (a deadline); the copy must land.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := store.SaveDeadLetter(sctx, d); err != nil {
		return d, fmt.Errorf("keep dead letter %s: %w", id, err)
	}
	return d, nil
}

// replayer puts dead letters back on the queue.
type replayer struct {
	store     deadLetterStore
	inspector *asynq.Inspector
	client    *asynq.Client
}

// replay runs a dead letter again through the normal decision, which
// re-reads the booking and is safe to repeat. An archived task is moved
// back to pending; one asynq has dropped is enqueued again from the copy.
func (r replayer) replay(ctx context.Context, id string) (string, error) {
	d, err := r.store.GetDeadLetter(ctx, id)
	if errors.Is(err, credits.ErrNotFound) {
		// Archived while the database was unreachable: no copy, but
		// asynq's archive still holds it.
		if rerr := r.inspector.RunTask(worker.Queue, id); rerr == nil {
			return "archived task run again (it had no database copy)", nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("replay %s: %w", id, err)
	}
	how := "archived task run again"
	err = r.inspector.RunTask(d.Queue, d.ID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		_, err = r.client.EnqueueContext(ctx, asynq.NewTask(d.Type, d.Payload), asynq.TaskID(d.ID),
			asynq.Queue(d.Queue), asynq.Retention(worker.Retention), asynq.MaxRetry(worker.MaxRetry))
		how = "re-enqueued from the database copy"
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return "", fmt.Errorf("replay %s: a task with this id is already queued or recently done", id)
		}
	}
	if err != nil {
		return "", fmt.Errorf("replay %s: %w", id, err)
	}
	if err := r.store.MarkReplayed(ctx, id, time.Now()); err != nil {
		return "", fmt.Errorf("replay %s: mark replayed: %w", id, err)
	}
	return how, nil
}

// runDLQ is `creditgate dlq list|show|replay`.
func runDLQ(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: creditgate dlq list [--json] [--all] | dlq show ID | dlq replay ID|--all")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("dlq "+sub, flag.ContinueOnError)
	dbURL := databaseFlag(fs, getenv)
	redisURL := urlFlag(fs, "redis-url", getenv("REDIS_URL"), "Redis ($REDIS_URL)")
	asJSON := fs.Bool("json", false, "print JSON")
	all := fs.Bool("all", false, "list: include replayed ones; replay: every waiting dead letter")
	pos, err := parseArgs(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		helpFor(fs, stdout, "dlq list [--json] [--all] | dlq show ID | dlq replay ID|--all")
		return nil
	}
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer l.Close()
	switch {
	case sub == "list" && len(pos) == 0:
		ds, err := deadLetters(ctx, l, *redisURL, !*all)
		if err != nil {
			return err
		}
		return printDeadLetters(stdout, ds, *asJSON)
	case sub == "show" && len(pos) == 1:
		d, err := l.GetDeadLetter(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("show %s: %w", pos[0], err)
		}
		return printDeadLetter(stdout, d)
	case sub == "replay" && (len(pos) == 1) != *all:
		return replayCmd(ctx, l, *redisURL, pos, *all, stdout)
	}
	return usagef("usage: creditgate dlq list [--json] [--all] | dlq show ID | dlq replay ID|--all")
}

func replayCmd(ctx context.Context, l credits.Store, redisURL string, ids []string, all bool, out io.Writer) error {
	if redisURL == "" {
		return usagef("dlq replay needs REDIS_URL: the queue the workers read")
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return usagef("REDIS_URL: %s", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	r := replayer{store: l, inspector: asynq.NewInspectorFromRedisClient(rdb), client: asynq.NewClientFromRedisClient(rdb)}
	if all {
		ds, err := deadLetters(ctx, l, redisURL, true)
		if err != nil {
			return err
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
	}
	var failed int
	for _, id := range ids {
		how, err := r.replay(ctx, id)
		if err != nil {
			failed++
			fmt.Fprintf(out, "%s: %s\n", id, err)
			continue
		}
		fmt.Fprintf(out, "%s: replayed (%s)\n", id, how)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d dead letters not replayed", failed, len(ids))
	}
	fmt.Fprintf(out, "%d replayed\n", len(ids))
	return nil
}

// deadLetters lists the database's dead letters and, when Redis is given,
// the tasks in asynq's archive that have no database copy (archived while
// the database was down, which is often why they died).
func deadLetters(ctx context.Context, l deadLetterStore, redisURL string, pending bool) ([]credits.DeadLetter, error) {
	ds, err := l.DeadLetters(ctx, pending)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	if redisURL == "" {
		return ds, nil
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, usagef("REDIS_URL: %s", err)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	archived, err := in.ListArchivedTasks(worker.Queue, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, fmt.Errorf("list asynq's archive: %w", err)
	}
	known := map[string]bool{}
	for _, d := range ds {
		known[d.ID] = true
	}
	for _, t := range archived {
		if known[t.ID] {
			continue
		}
		if _, err := l.GetDeadLetter(ctx, t.ID); err == nil {
			continue // copied, and replayed since
		}
		d := credits.DeadLetter{ID: t.ID, Queue: t.Queue, Type: t.Type, Payload: t.Payload,
			Error: t.LastErr + " (only in asynq's archive)", Retried: t.Retried, FailedAt: t.LastFailedAt}
		var bt worker.BookingTask
		if json.Unmarshal(t.Payload, &bt) == nil {
			d.BookingUID = bt.UID
		}
		ds = append(ds, d)
	}
	return ds, nil
}

type deadLetterJSON struct {
	ID         string          `json:"id"`
	Queue      string          `json:"queue"`
	Type       string          `json:"type"`
	BookingUID string          `json:"bookingUid,omitempty"`
	Error      string          `json:"error"`
	Retried    int             `json:"retried"`
	FailedAt   time.Time       `json:"failedAt"`
	ReplayedAt *time.Time      `json:"replayedAt,omitempty"`
	Replays    int             `json:"replays"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

func toJSON(d credits.DeadLetter, withPayload bool) deadLetterJSON {
	j := deadLetterJSON{d.ID, d.Queue, d.Type, d.BookingUID, d.Error, d.Retried, d.FailedAt.UTC(), d.ReplayedAt, d.Replays, nil}
	if withPayload && json.Valid(d.Payload) {
		j.Payload = d.Payload
	}
	return j
}

func printDeadLetters(out io.Writer, ds []credits.DeadLetter, asJSON bool) error {
	if asJSON {
		rows := make([]deadLetterJSON, 0, len(ds))
		for _, d := range ds {
			rows = append(rows, toJSON(d, false))
		}
		return json.NewEncoder(out).Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tFAILED\tRETRIED\tREPLAYS\tERROR")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", d.ID, d.Type, d.FailedAt.UTC().Format(time.DateTime), d.Retried, d.Replays, truncate(d.Error, 100))
	}
	return tw.Flush()
}

func printDeadLetter(out io.Writer, d credits.DeadLetter) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(toJSON(d, true))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// logDeadLetter is the one line a dead letter gets in the logs.
func logDeadLetter(log *slog.Logger, d credits.DeadLetter) {
	log.Error("dead letter", slog.String("task_id", d.ID), slog.String("uid", d.BookingUID),
		slog.String("type", d.Type), slog.Int("retried", d.Retried), slog.String("err", d.Error))
}
