package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// benchOptions are creditgate bench's flags.
type benchOptions struct {
	count       int
	rate        float64
	burstRate   float64
	concurrency int
	workers     int
	taskCheck   time.Duration
	redisURL    string
	databaseURL string
	json        bool
	inProcess   bool
	binary      string
	cpuProfile  string
	phases      map[string]bool
}

const benchSynopsis = "bench [--count N] [--rate R] [--concurrency C] [--json] [flags]"

func parseBenchFlags(args []string, getenv env, stdout io.Writer) (benchOptions, error) {
	o := benchOptions{redisURL: getenv("REDIS_URL"), databaseURL: getenv("DATABASE_URL")}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.count, "count", 1000, "bookings sent in each phase")
	fs.Float64Var(&o.rate, "rate", 100, "bookings a second in the latency phases (open loop)")
	fs.Float64Var(&o.burstRate, "burst-rate", 1000, "webhooks a second in the serve memory phase (open loop)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "webhooks (and raw enqueues) in flight at once in the as-fast-as-possible phases")
	fs.IntVar(&o.workers, "workers", 20, "decisions at once: creditgate's CREDITGATE_CONCURRENCY and the raw asynq server's")
	fs.DurationVar(&o.taskCheck, "task-check-interval", 5*time.Millisecond, "CREDITGATE_TASK_CHECK_INTERVAL, and the raw asynq server's TaskCheckInterval")
	fs.StringVar(&o.redisURL, "redis-url", o.redisURL, "Redis to measure on, an empty database the bench may flush ($REDIS_URL); required")
	fs.StringVar(&o.databaseURL, "database-url", o.databaseURL,
		"postgres://... adds PostgreSQL (in a schema of the bench's own, dropped after); sqlite:PATH puts SQLite's temporary file beside PATH ($DATABASE_URL)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.BoolVar(&o.inProcess, "in-process", false, "run creditgate inside the bench process instead of as child processes (no peak RSS; --cpuprofile then sees creditgate)")
	fs.StringVar(&o.binary, "binary", "", "creditgate executable to run the roles with (default: this program)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench process's CPU profile to this file")
	phases := fs.String("phases", strings.Join(benchPhases, ","), "which measurements to make, comma-separated")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		helpFor(fs, stdout, benchSynopsis)
		return o, err
	}
	if err != nil {
		return o, err
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(*phases, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(benchPhases, p) {
			return o, usagef("bench: --phases: %q is not one of %s", p, strings.Join(benchPhases, ", "))
		}
		o.phases[p] = true
	}
	switch {
	case len(pos) > 0:
		return o, usagef("bench takes no arguments, got %q", pos)
	case o.count < 2:
		return o, usagef("bench: --count must be at least 2")
	case o.rate <= 0 || o.burstRate <= 0:
		return o, usagef("bench: --rate and --burst-rate must be above 0")
	case o.concurrency < 1 || o.workers < 1:
		return o, usagef("bench: --concurrency and --workers must be at least 1")
	case o.redisURL == "":
		return o, usagef("bench needs a real Redis: set REDIS_URL or --redis-url to an empty database it may flush, " +
			"e.g. redis://127.0.0.1:6379/15 (the embedded broker is an in-memory fake: its figures would say nothing about asynq on Redis)")
	case o.databaseURL != "" && sqlitePath(o.databaseURL) == "" && !isPostgresURL(o.databaseURL):
		return o, usagef("DATABASE_URL %q: want sqlite:PATH or postgres://...", redactURL(o.databaseURL))
	}
	if o.binary == "" && !o.inProcess {
		if o.binary, err = os.Executable(); err != nil {
			return o, fmt.Errorf("bench: find this program to run its roles: %w (use --binary or --in-process)", err)
		}
	}
	return o, nil
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// runBench measures creditgate against raw asynq on the same Redis, in one
// run, and prints each figure beside its baseline (see docs/performance.md).
func runBench(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	b, err := newBench(ctx, o, getenv, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return rep.writeJSON(stdout)
	}
	return rep.writeTable(stdout)
}

// bench is one run: the Redis database it owns, the ledgers it created and
// how it starts creditgate.
type bench struct {
	o        benchOptions
	rdb      *redis.Client
	backends []*benchBackend
	roles    roleStarter
	client   *http.Client
	progress io.Writer
	started  time.Time
	dir      string
	closers  []func()
}

func newBench(ctx context.Context, o benchOptions, getenv env, stderr io.Writer) (_ *bench, err error) {
	b := &bench{o: o, progress: stderr, started: time.Now()}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", "creditgate-bench-"); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	b.closers = append(b.closers, func() { _ = os.RemoveAll(b.dir) })
	if err := b.openRedis(ctx); err != nil {
		return nil, err
	}
	if err := b.openBackends(ctx); err != nil {
		return nil, err
	}
	// Enough idle connections that no webhook pays for a new one.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, 1024
	b.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	b.closers = append(b.closers, tr.CloseIdleConnections)
	if o.inProcess {
		b.roles = inProcessRoles{}
	} else {
		b.roles = childRoles{binary: o.binary, dir: b.dir, getenv: getenv}
	}
	return b, nil
}

// openRedis connects and makes sure the database is empty: the bench
// flushes it between phases (FLUSHDB, never FLUSHALL).
func (b *bench) openRedis(ctx context.Context) error {
	opt, err := redis.ParseURL(b.o.redisURL)
	if err != nil {
		return usagef("REDIS_URL: %s", err)
	}
	b.rdb = redis.NewClient(opt)
	b.closers = append(b.closers, func() { _ = b.rdb.Close() })
	n, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("bench: connect to Redis at %s: %w", redactURL(b.o.redisURL), err)
	}
	if n != 0 {
		return usagef("bench: Redis database %d at %s holds %d keys; the bench flushes the database it uses, "+
			"so give it an empty one of its own, e.g. redis://%s/15", opt.DB, opt.Addr, n, opt.Addr)
	}
	b.closers = append(b.closers, func() { _ = b.flush(context.Background()) })
	return nil
}

// flush empties the bench's Redis database between phases.
func (b *bench) flush(ctx context.Context) error {
	if err := b.rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("bench: flush Redis: %w", err)
	}
	return nil
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "bench: %5.1fs "+format+"\n", append([]any{time.Since(b.started).Seconds()}, args...)...)
}

// benchPhases are the groups of measurements --phases can choose.
var benchPhases = []string{"ingest", "decisions", "latency", "memory"}

// benchRows are a run's figures, by kind, in the order they are printed.
type benchRows struct {
	acks, ackLatency, decisions, e2e, rss []benchRow
}

// run measures the chosen phases, each creditgate figure next to its
// baseline measured just before it.
func (b *bench) run(ctx context.Context) (*benchReport, error) {
	rep := &benchReport{Config: b.config(ctx)}
	b.logf("Redis %s at %s, %d bookings a phase, ledgers %s, creditgate as %s",
		rep.Config.RedisVersion, rep.Config.Redis, b.o.count, strings.Join(rep.Config.Backends, ", "), rep.Config.Mode)
	var rows benchRows
	for _, phase := range []struct {
		name    string
		measure func(context.Context, *benchRows) error
	}{{"ingest", b.measureIngest}, {"decisions", b.measureDecisions}, {"latency", b.measureLatency}, {"memory", b.measureMemory}} {
		if !b.o.phases[phase.name] {
			continue
		}
		if err := phase.measure(ctx, &rows); err != nil {
			return nil, err
		}
	}
	for _, kind := range [][]benchRow{rows.acks, rows.ackLatency, rows.decisions, rows.e2e, rows.rss} {
		for _, r := range kind {
			rep.add(r)
		}
	}
	rep.judge()
	b.logf("done")
	return rep, nil
}

func (b *bench) measureIngest(ctx context.Context, rows *benchRows) error {
	enq, ing, err := b.ingestThroughput(ctx)
	if err != nil {
		return err
	}
	rows.acks = append(rows.acks,
		benchRow{Key: "ingest_acks_per_s", Label: fmt.Sprintf("ingest acks/s (max, %d in flight)", b.o.concurrency),
			Unit: "/s", Creditgate: ing.rate, Baseline: enq.rate, Target: ">= 0.8x", minRatio: 0.8},
		cpuRow("ingest_cpu_us_per_webhook", "ingest CPU per webhook", ing.cpu, enq.cpu))
	rows.rss = append(rows.rss, rssRow("ingest", "ingest (max rate)", ing.rss))
	return nil
}

func (b *bench) measureDecisions(ctx context.Context, rows *benchRows) error {
	noop, err := b.rawProcess(ctx)
	if err != nil {
		return err
	}
	for _, be := range b.backends {
		dec, err := b.decisions(ctx, be)
		if err != nil {
			return err
		}
		row := benchRow{Key: "decisions_per_s_" + be.name, Label: "decisions/s (" + be.name + ")", Unit: "/s",
			Creditgate: dec.rate, Baseline: noop.rate}
		if be.name == "postgres" {
			row.Target, row.minRatio = ">= 0.5x", 0.5
		}
		rows.decisions = append(rows.decisions, row,
			cpuRow("worker_cpu_us_per_decision_"+be.name, "worker CPU per decision ("+be.name+")", dec.cpu, noop.cpu))
		rows.rss = append(rows.rss, rssRow("worker_"+be.name, "worker ("+be.name+")", dec.rss))
	}
	return nil
}

func (b *bench) measureLatency(ctx context.Context, rows *benchRows) error {
	base, err := b.rawLatency(ctx)
	if err != nil {
		return err
	}
	at := fmt.Sprintf("@%g/s", b.o.rate)
	// The targets hold at the rate of 100 a second.
	var targets map[string]float64
	if b.o.rate == 100 {
		targets = map[string]float64{"p50": 15, "p99": 50}
	}
	for i, be := range b.backends {
		e, err := b.endToEnd(ctx, be, b.o.rate, "e2e")
		if err != nil {
			return err
		}
		if i == 0 {
			rows.ackLatency = latencyRows("ack", "ingest ack "+at, e.ack, base.ack, nil)
		}
		rows.e2e = append(rows.e2e, latencyRows("e2e_"+be.name, "end to end "+at+" ("+be.name+")", e.e2e, base.e2e, targets)...)
	}
	return nil
}

// measureMemory runs serve at --burst-rate on the last ledger (PostgreSQL
// when given), the "serve at 1,000 webhooks/s".
func (b *bench) measureMemory(ctx context.Context, rows *benchRows) error {
	be := b.backends[len(b.backends)-1]
	burst, err := b.endToEnd(ctx, be, b.o.burstRate, "burst")
	if err != nil {
		return err
	}
	row := rssRow("serve_burst", fmt.Sprintf("serve @%g/s (%s)", b.o.burstRate, be.name), burst.rss)
	if b.o.burstRate == 1000 && row.Creditgate > 0 {
		row.Target, row.maxValue = "<= 60 MB", 60
	}
	rows.rss = append(rows.rss, row)
	return nil
}

func (b *bench) config(ctx context.Context) benchConfig {
	c := benchConfig{
		Count: b.o.count, Rate: b.o.rate, BurstRate: b.o.burstRate, Concurrency: b.o.concurrency,
		Workers: b.o.workers, TaskCheckInterval: b.o.taskCheck.String(), Mode: "child processes",
		Redis: redactURL(b.o.redisURL), RedisVersion: redisVersion(ctx, b.rdb),
		CPUs: runtime.NumCPU(), Go: runtime.Version(),
	}
	if b.o.inProcess {
		c.Mode = "in-process"
	}
	for _, be := range b.backends {
		c.Backends = append(c.Backends, be.name)
	}
	return c
}

// redisVersion is the server's version, or a warning when it does not say
// (an embedded fake such as miniredis).
func redisVersion(ctx context.Context, rdb *redis.Client) string {
	info, err := rdb.Info(ctx, "server").Result()
	if err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				return v
			}
		}
	}
	return "unknown (not a Redis server? figures may not describe Redis)"
}
