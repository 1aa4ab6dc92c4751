package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/worker"
)

// Each phase starts on an empty Redis database and leaves it empty. The
// raw asynq baselines get their own Redis client, as each creditgate role
// has, with the same pool settings.

// newRedis is a fresh client on the bench's database.
func (b *bench) newRedis() *redis.Client {
	opt, _ := redis.ParseURL(b.o.redisURL) // parsed once already in openRedis
	return redis.NewClient(opt)
}

// benchRounds is how many times the short throughput measurements (raw
// enqueue against ingest, no-op processing) are taken, alternating with
// their counterpart; the median is reported, so that one stall of a noisy
// machine does not make the figure.
const benchRounds = 3

// ingestThroughput measures, in alternating rounds, asynq.Client
// enqueueing the very tasks ingest makes (the baseline) and creditgate
// ingest acknowledging their webhooks, both --concurrency at once, as fast
// as they go.
func (b *bench) ingestThroughput(ctx context.Context) (enq, ing phaseResult, err error) {
	b.logf("raw asynq enqueue, then creditgate ingest: %d each, %d in flight, %d rounds", b.o.count, b.o.concurrency, benchRounds)
	fake := calapitest.NewServer(benchAPIKey)
	defer fake.Close()
	p, err := b.roles.start(ctx, roleIngest, b.roleEnv(fake, b.backends[0]))
	if err != nil {
		return enq, ing, err
	}
	defer func() { _ = p.stop() }()
	url := p.base() + "/webhooks/calcom"
	rdb := b.newRedis()
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	var enqs, ings []phaseResult
	for round := range benchRounds {
		r, err := b.timedLoop(ctx, fmt.Sprintf("raw-enqueue-%d", round), selfCPU, func(ctx context.Context, bk benchBooking) error {
			_, err := client.EnqueueContext(ctx, bk.task)
			return err
		})
		if err != nil {
			return enq, ing, fmt.Errorf("bench: raw enqueue: %w", err)
		}
		enqs = append(enqs, r)
		r, err = b.timedLoop(ctx, fmt.Sprintf("ingest-%d", round), p.cpu, func(ctx context.Context, bk benchBooking) error {
			_, err := b.post(ctx, url, bk.body)
			return err
		})
		if err != nil {
			return enq, ing, fmt.Errorf("bench: ingest: %w%s", err, p.logTail())
		}
		ings = append(ings, r)
	}
	enq, ing = median(enqs), median(ings)
	ing.rss = p.peakRSS()
	if err := b.stopRole(p); err != nil {
		return enq, ing, err
	}
	return enq, ing, b.flush(ctx)
}

// timedLoop sends a phase's bookings through do, --concurrency at once:
// the warm-up ones untimed, then --count timed, reading the CPU time of
// the process doing the work (cpu) around them.
func (b *bench) timedLoop(ctx context.Context, phase string, cpu func() time.Duration,
	do func(context.Context, benchBooking) error) (phaseResult, error) {
	warm, bks, err := b.bookings(phase, nil)
	if err != nil {
		return phaseResult{}, err
	}
	each := func(bks []benchBooking) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error { return do(ctx, bks[i]) }
	}
	_, err = closedLoop(ctx, len(warm), b.o.concurrency, each(warm))
	before := cpu()
	took, err2 := closedLoop(ctx, len(bks), b.o.concurrency, each(bks))
	r := phaseResult{rate: float64(len(bks)) / took.Seconds(), cpu: perItem(cpu(), before, len(bks))}
	if err := errors.Join(err, err2); err != nil {
		return r, err
	}
	return r, b.flush(ctx)
}

// median is the round with the median rate, carrying the median CPU.
func median(rs []phaseResult) phaseResult {
	byRate := slices.SortedFunc(slices.Values(rs), func(a, b phaseResult) int { return cmp.Compare(a.rate, b.rate) })
	byCPU := slices.SortedFunc(slices.Values(rs), func(a, b phaseResult) int { return cmp.Compare(a.cpu, b.cpu) })
	m := byRate[len(rs)/2]
	m.cpu = byCPU[len(rs)/2].cpu
	return m
}

// perItem is the CPU used per item between two readings, 0 when CPU time
// cannot be read (-1).
func perItem(after, before time.Duration, n int) time.Duration {
	if before < 0 || after < 0 || n == 0 {
		return 0
	}
	return (after - before) / time.Duration(n)
}

// bookings are a phase's bookings: a few to warm up on (connections
// opened, code paths paged in), untimed, then --count to measure.
func (b *bench) bookings(phase string, fake *calapitest.Server) (warm, timed []benchBooking, err error) {
	n := min(b.o.count, 4*b.o.concurrency)
	all, err := makeBookings(phase, n+b.o.count, fake)
	if err != nil {
		return nil, nil, err
	}
	return all[:n], all[n:], nil
}

// phaseResult is what a creditgate phase measured.
type phaseResult struct {
	rate     float64 // per second
	ack, e2e latencies
	rss      int64         // peak resident bytes of the role's process; 0 unknown
	cpu      time.Duration // CPU used per booking by the process measured; 0 unknown
}

// prefill queues the bookings' tasks before a processing phase.
func (b *bench) prefill(ctx context.Context, bks []benchBooking) error {
	rdb := b.newRedis()
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	_, err := closedLoop(ctx, len(bks), b.o.concurrency, func(ctx context.Context, i int) error {
		_, err := client.EnqueueContext(ctx, bks[i].task)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: prefill queue: %w", err)
	}
	return nil
}

// noopServer is the baseline of the worker: an asynq server configured as
// creditgate's whose handler only notes the task's arrival.
func (b *bench) noopServer(rdb *redis.Client) *asynq.Server {
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       b.o.workers,
		Queues:            map[string]int{worker.Queue: 1},
		TaskCheckInterval: b.o.taskCheck,
		Logger:            asynqLogger{slog.New(slog.DiscardHandler)},
		LogLevel:          asynq.WarnLevel,
	})
}

func noopHandler(arr *arrivals) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		arr.arrive(strings.TrimPrefix(id, calapi.TriggerBookingRequested+":"), time.Now())
		return nil
	})
}

// rawProcess is the baseline of decisions/s: a no-op handler draining
// --count queued tasks, the median of benchRounds rounds.
func (b *bench) rawProcess(ctx context.Context) (phaseResult, error) {
	b.logf("raw asynq: %d queued tasks to a no-op handler, %d workers, %d rounds", b.o.count, b.o.workers, benchRounds)
	var rs []phaseResult
	for round := range benchRounds {
		r, err := b.rawProcessRound(ctx, round)
		if err != nil {
			return r, fmt.Errorf("bench: raw processing: %w", err)
		}
		rs = append(rs, r)
	}
	return median(rs), nil
}

func (b *bench) rawProcessRound(ctx context.Context, round int) (phaseResult, error) {
	bks, err := makeBookings(fmt.Sprintf("raw-process-%d", round), b.o.count, nil)
	if err != nil {
		return phaseResult{}, err
	}
	if err := b.prefill(ctx, bks); err != nil {
		return phaseResult{}, err
	}
	rdb := b.newRedis()
	defer rdb.Close()
	arr := newArrivals()
	srv := b.noopServer(rdb)
	cpu := selfCPU()
	if err := srv.Start(noopHandler(arr)); err != nil {
		return phaseResult{}, fmt.Errorf("start asynq server: %w", err)
	}
	err = arr.wait(ctx, len(bks))
	r := phaseResult{rate: arr.rate(), cpu: perItem(selfCPU(), cpu, len(bks))}
	srv.Shutdown()
	if err != nil {
		return r, err
	}
	return r, b.flush(ctx)
}

// decisions starts creditgate worker on a queue of --count booking tasks
// and times the decisions from the first confirm at the fake to the last.
func (b *bench) decisions(ctx context.Context, be *benchBackend) (phaseResult, error) {
	b.logf("creditgate worker (%s): %d queued bookings, %d workers", be.name, b.o.count, b.o.workers)
	fake := calapitest.NewServer(benchAPIKey)
	defer fake.Close()
	arr := newArrivals()
	fake.OnCall(arr.confirms())
	bks, err := makeBookings("decide-"+be.name, b.o.count, fake)
	if err != nil {
		return phaseResult{}, err
	}
	if err := b.prefill(ctx, bks); err != nil {
		return phaseResult{}, err
	}
	p, err := b.roles.start(ctx, roleWorker, b.roleEnv(fake, be))
	if err != nil {
		return phaseResult{}, err
	}
	defer func() { _ = p.stop() }()
	cpu := p.cpu()
	if err := arr.wait(ctx, len(bks)); err != nil {
		return phaseResult{}, fmt.Errorf("bench: decisions (%s): %w%s", be.name, err, p.logTail())
	}
	r := phaseResult{rate: arr.rate(), rss: p.peakRSS(), cpu: perItem(p.cpu(), cpu, len(bks))}
	if err := b.stopRole(p); err != nil {
		return r, err
	}
	return r, b.flush(ctx)
}

// rawLatency is the baseline of the latency phases: tasks enqueued at
// --rate to a no-op handler; the enqueue call stands for the ack.
func (b *bench) rawLatency(ctx context.Context) (phaseResult, error) {
	b.logf("raw asynq: %d tasks at %g/s to a no-op handler", b.o.count, b.o.rate)
	warm, bks, err := b.bookings("raw-latency", nil)
	if err != nil {
		return phaseResult{}, err
	}
	rdb := b.newRedis()
	defer rdb.Close()
	arr := newArrivals()
	srv := b.noopServer(rdb)
	if err := srv.Start(noopHandler(arr)); err != nil {
		return phaseResult{}, fmt.Errorf("bench: start asynq server: %w", err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	for _, bk := range warm {
		if _, err := client.EnqueueContext(ctx, bk.task); err != nil {
			srv.Shutdown()
			return phaseResult{}, fmt.Errorf("bench: raw latency: %w", err)
		}
	}
	var ack durations
	err = arr.wait(ctx, len(warm))
	if err == nil {
		err = openLoop(ctx, len(bks), b.o.rate, func(ctx context.Context, i int) error {
			start := time.Now()
			arr.start(bks[i].uid, start)
			_, err := client.EnqueueContext(ctx, bks[i].task)
			ack.add(time.Since(start))
			return err
		})
	}
	if err == nil {
		err = arr.wait(ctx, len(warm)+len(bks))
	}
	srv.Shutdown()
	if err != nil {
		return phaseResult{}, fmt.Errorf("bench: raw latency: %w", err)
	}
	return phaseResult{ack: ack.sorted(), e2e: arr.latencies()}, b.flush(ctx)
}

// endToEnd posts --count webhooks at rate to creditgate serve and times
// each from the start of its POST to its confirm arriving at the fake.
func (b *bench) endToEnd(ctx context.Context, be *benchBackend, rate float64, phase string) (phaseResult, error) {
	b.logf("creditgate serve (%s): %d webhooks at %g/s", be.name, b.o.count, rate)
	fake := calapitest.NewServer(benchAPIKey)
	defer fake.Close()
	arr := newArrivals()
	fake.OnCall(arr.confirms())
	warm, bks, err := b.bookings(phase+"-"+be.name, fake)
	if err != nil {
		return phaseResult{}, err
	}
	p, err := b.roles.start(ctx, roleServe, b.roleEnv(fake, be))
	if err != nil {
		return phaseResult{}, err
	}
	defer func() { _ = p.stop() }()
	url := p.base() + "/webhooks/calcom"
	for _, bk := range warm {
		if _, err := b.post(ctx, url, bk.body); err != nil {
			return phaseResult{}, fmt.Errorf("bench: end to end (%s): %w%s", be.name, err, p.logTail())
		}
	}
	var ack durations
	err = arr.wait(ctx, len(warm))
	if err == nil {
		err = openLoop(ctx, len(bks), rate, func(ctx context.Context, i int) error {
			arr.start(bks[i].uid, time.Now())
			d, err := b.post(ctx, url, bks[i].body)
			ack.add(d)
			return err
		})
	}
	if err == nil {
		err = arr.wait(ctx, len(warm)+len(bks))
	}
	if err != nil {
		return phaseResult{}, fmt.Errorf("bench: end to end (%s, %g/s): %w%s", be.name, rate, err, p.logTail())
	}
	r := phaseResult{ack: ack.sorted(), e2e: arr.latencies(), rss: p.peakRSS()}
	if err := b.stopRole(p); err != nil {
		return r, err
	}
	return r, b.flush(ctx)
}

// roleEnv is the environment a creditgate role runs with: the bench's
// Redis, a ledger and the fake Cal.com. The shared Cal.com rate limit is
// still asked before every call, but set too high to hold any back, and the
// reconciler is off: its start-up round would find the phase's pending
// bookings and race the webhooks, measuring itself instead.
func (b *bench) roleEnv(fake *calapitest.Server, be *benchBackend) map[string]string {
	return map[string]string{
		"CREDITGATE_LISTEN":              "127.0.0.1:0",
		"REDIS_URL":                      b.o.redisURL,
		"DATABASE_URL":                   be.url,
		"CALCOM_API_URL":                 fake.URL,
		"CALCOM_API_KEY":                 benchAPIKey,
		"CALCOM_WEBHOOK_SECRET":          benchSecret,
		"CALCOM_RATE_LIMIT":              "1000000",
		"CREDITGATE_RECONCILE_INTERVAL":  "0",
		"CREDITGATE_CONCURRENCY":         fmt.Sprint(b.o.workers),
		"CREDITGATE_TASK_CHECK_INTERVAL": b.o.taskCheck.String(),
	}
}
