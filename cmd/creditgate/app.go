package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/ratelimit"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/ingest"
	"github.com/creditgate/creditgate/worker"
)

// role is which parts of creditgate a process runs.
type role string

const (
	roleServe  role = "serve"
	roleIngest role = "ingest"
	roleWorker role = "worker"
)

func (r role) ingests() bool { return r == roleServe || r == roleIngest }
func (r role) decides() bool { return r == roleServe || r == roleWorker }

// app is one running creditgate process.
type app struct {
	cfg       *config
	role      role
	log       *slog.Logger
	embedded  *miniredis.Miniredis
	redisURL  string // the broker's URL, embedded or not
	rdb       *redis.Client
	ledger    credits.Store
	client    *asynq.Client
	inspector *asynq.Inspector
	server    *asynq.Server
	handler   *worker.Handler
	// reconciler lists bookings pending at Cal.com; nil in shadow mode.
	reconciler *worker.Reconciler
	ln         net.Listener
	http       *http.Server
	secret     webhookSecret
	metrics    *metrics
	observe    func(worker.Decision) // extra observer (demo, tests)
	closers    []func()
}

// newApp opens everything a role needs. On error, what was opened is closed.
func newApp(ctx context.Context, cfg *config, r role, log *slog.Logger, observe func(worker.Decision)) (*app, error) {
	a := &app{cfg: cfg, role: r, log: log, metrics: newMetrics(), observe: observe}
	if err := a.open(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) open(ctx context.Context) error {
	cfg, r := a.cfg, a.role
	if r == roleIngest && cfg.WebhookSecret == "" {
		return usagef("CALCOM_WEBHOOK_SECRET is required for 'creditgate ingest': every ingest process must check signatures with the same secret")
	}
	if err := a.openBroker(ctx); err != nil {
		return err
	}
	ready := []ingest.Checker{{Name: "redis", Check: func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }}}
	if r.decides() {
		l, err := openLedger(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		a.ledger = l
		a.closers = append(a.closers, func() { _ = l.Close() })
		ready = append(ready, ingest.Checker{Name: "database", Check: l.Ping})
		if err := a.newWorker(); err != nil {
			return err
		}
	}
	// Listen before a secret is generated: a start that fails here must
	// not keep a secret nobody was shown.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	a.ln = ln
	a.closers = append(a.closers, func() { _ = ln.Close() })
	var h http.Handler
	if r.ingests() {
		a.secret, err = loadSecret(cfg.WebhookSecret, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		h = ingest.NewServer(ingest.Config{
			Secret: a.secret.value, Enqueuer: a.client, Ready: ready, Logger: a.log,
			Observe: a.metrics.observeWebhook, Mount: a.mount,
		})
	} else {
		h = ingest.NewProbeServer(ready, a.log, a.mount)
	}
	a.http = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	return nil
}

// openBroker connects to Redis, or starts the embedded in-memory broker.
func (a *app) openBroker(ctx context.Context) error {
	url := a.cfg.RedisURL
	if url == "" {
		if a.role != roleServe {
			return usagef("REDIS_URL is required for 'creditgate %s': roles that run apart must share one Redis", a.role)
		}
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded broker: %w", err)
		}
		a.embedded = m
		a.closers = append(a.closers, m.Close)
		url = "redis://" + m.Addr()
	}
	a.redisURL = url
	opt, err := redis.ParseURL(url)
	if err != nil {
		return usagef("REDIS_URL: %s", err)
	}
	// Fail fast when Redis is down, so that ingest answers 503 in
	// milliseconds, not after three retries; the URL may override both.
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	a.rdb = redis.NewClient(opt)
	a.closers = append(a.closers, func() { _ = a.rdb.Close() })
	// One asynq client and inspector on the one connection pool, for
	// every part of the process that enqueues or looks at tasks.
	a.client = asynq.NewClientFromRedisClient(a.rdb)
	a.inspector = asynq.NewInspectorFromRedisClient(a.rdb)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("connect to Redis at %s: %w", redactURL(url), err)
	}
	if a.embedded == nil {
		warnDurability(pctx, a.rdb, a.log)
	}
	return nil
}

// warnDurability warns when Redis would lose or evict queued bookings.
// Managed Redis often forbids CONFIG: then it says it could not check.
func warnDurability(ctx context.Context, rdb *redis.Client, log *slog.Logger) {
	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		log.Info("could not check Redis persistence settings (CONFIG GET refused); see deploy/redis.conf")
		return
	}
	if cfg["appendonly"] != "yes" {
		log.Warn("Redis persistence is off (appendonly no): a Redis restart loses queued bookings; use deploy/redis.conf",
			slog.String("appendonly", cfg["appendonly"]), slog.String("save", cfg["save"]))
	}
	if p := cfg["maxmemory-policy"]; p != "" && p != "noeviction" {
		log.Warn("Redis may evict queued bookings under memory pressure: set maxmemory-policy noeviction",
			slog.String("maxmemory-policy", p))
	}
}

// calClient is what the worker needs of Cal.com: decide, and list pending
// bookings for the reconciler. Both API versions' clients are one.
type calClient interface {
	worker.CalAPI
	worker.Lister
}

// calClient is the Cal.com client, or nil for shadow mode. Every call it
// makes first takes a token from the rate limit all workers share.
func (a *app) calClient() (calClient, error) {
	if a.cfg.CalAPIKey == "" {
		return nil, nil
	}
	if a.cfg.RateWindow <= 0 {
		return nil, usagef("CALCOM_RATE_WINDOW must be longer than 0")
	}
	opts := calapi.Options{
		Logger:     a.log,
		HTTPClient: &http.Client{Transport: countingTransport{next: http.DefaultTransport, calls: a.metrics.calCalls}},
		Limiter:    ratelimit.NewWindow(a.rdb, a.cfg.RateLimit, a.cfg.RateWindow),
	}
	switch a.cfg.CalAPIVersion {
	case "v2", "":
		return calapi.NewClient(a.cfg.CalAPIURL, a.cfg.CalAPIKey, opts), nil
	case "v1":
		return calapi.NewV1Client(a.cfg.CalAPIURL, a.cfg.CalAPIKey, opts), nil
	}
	return nil, usagef("CALCOM_API_VERSION %q: want v2 or v1", a.cfg.CalAPIVersion)
}

func (a *app) newWorker() error {
	cal, err := a.calClient()
	if err != nil {
		return err
	}
	var decider worker.CalAPI // a nil calClient must stay a nil interface: shadow mode
	if cal != nil {
		decider = cal
		a.reconciler = worker.NewReconciler(cal, a.client, a.log)
	}
	a.handler = worker.New(worker.Config{
		Ledger: meteredLedger{Store: a.ledger, m: a.metrics}, Cal: decider, DefaultCost: a.cfg.DefaultCost,
		LateCancelWindow: a.cfg.LateCancelWindow, Logger: a.log,
		Tasks: a.inspector,
		Observe: func(d worker.Decision) {
			a.metrics.observeDecision(d)
			if a.observe != nil {
				a.observe(d)
			}
		},
	})
	a.server = asynq.NewServerFromRedisClient(a.rdb, asynq.Config{
		Concurrency:       a.cfg.Concurrency,
		Queues:            map[string]int{worker.Queue: 1},
		TaskCheckInterval: a.cfg.TaskCheck,
		// Retries and rate-limit delays wait in asynq's scheduled sets;
		// its default 5 s check would add up to 5 s to each.
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           worker.RetryDelay,
		IsFailure:                worker.IsFailure,
		ShutdownTimeout:          a.cfg.ShutdownTimeout,
		Logger:                   asynqLogger{a.log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler:             asynq.ErrorHandlerFunc(a.taskFailed),
	})
	a.metrics.reg.MustRegister(newQueueCollector(a.inspector))
	return nil
}

// taskFailed logs a failed attempt; a final failure is also copied to the
// database as a dead letter.
func (a *app) taskFailed(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	id, _ := asynq.GetTaskID(ctx)
	if !final(ctx, err) {
		a.log.Warn("decision failed, will retry", slog.String("task_id", id), slog.String("type", t.Type()),
			slog.Int("retried", retried), slog.Int("max_retry", maxRetry), slog.String("err", err.Error()))
		return
	}
	a.metrics.deadLetters.Inc()
	if aerr := a.handler.Abandon(context.WithoutCancel(ctx), t, "given up after "+strconv.Itoa(retried)+" retries"); aerr != nil {
		a.log.Error("debit of an abandoned booking not given back", slog.String("task_id", id), slog.String("err", aerr.Error()))
	}
	d, kerr := keepDeadLetter(ctx, a.ledger, t, err)
	logDeadLetter(a.log, d)
	if kerr != nil {
		a.log.Error("dead letter not copied to the database (still in asynq's archive)",
			slog.String("task_id", id), slog.String("err", kerr.Error()))
	}
}

func (a *app) mount(e *echo.Echo) {
	a.metrics.mount(e)
	connOpt, err := asynq.ParseRedisURI(a.redisURL)
	if err != nil {
		a.log.Error("admin dashboard off: cannot parse the Redis URL")
		return
	}
	a.mountAdmin(e, connOpt)
}

// addr is the address the HTTP server listens on.
func (a *app) addr() string { return a.ln.Addr().String() }

// run serves until ctx ends, then shuts down gracefully: stop taking
// webhooks, let in-flight decisions finish within the shutdown timeout,
// hand the rest back to the queue.
func (a *app) run(ctx context.Context) error {
	errc := make(chan error, 2)
	if a.server != nil {
		mux := a.handler.Mux()
		if a.reconciler != nil && a.cfg.ReconcileInterval > 0 {
			mux.HandleFunc(worker.TypeReconcile, a.reconciler.HandleReconcile)
			go func() { _ = a.reconciler.Run(ctx, a.cfg.ReconcileInterval) }()
		}
		if err := a.server.Start(mux); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
	}
	go func() {
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down", slog.String("role", string(a.role)))
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.http.Shutdown(sctx)
	if a.server != nil {
		a.server.Shutdown()
	}
	return err
}

// close releases everything, newest first.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// banner tells, in a few lines, where to point Cal.com and what runs.
func (a *app) banner(w io.Writer) {
	fmt.Fprintf(w, "creditgate %s listening on http://%s\n", a.role, a.addr())
	if a.role.ingests() {
		fmt.Fprintf(w, "  webhook URL: http://%s/webhooks/calcom  (Cal.com > Settings > Developer > Webhooks)\n", hostPort(a.addr()))
		switch {
		case a.secret.generated:
			fmt.Fprintf(w, "  webhook secret: %s  (generated and kept in %s; paste it into the webhook's Secret field — it is not shown again)\n", a.secret.value, a.secret.source)
		default:
			fmt.Fprintf(w, "  webhook secret: from %s\n", a.secret.source)
		}
	}
	if a.embedded != nil {
		fmt.Fprintln(w, "  broker: embedded in-memory Redis — NOT DURABLE: queued bookings are lost when this process stops; set REDIS_URL for real use")
	} else {
		fmt.Fprintf(w, "  broker: %s\n", redactURL(a.cfg.RedisURL))
	}
	if a.role.decides() {
		fmt.Fprintf(w, "  ledger: %s\n", redactURL(a.cfg.DatabaseURL))
		if a.cfg.CalAPIKey == "" {
			fmt.Fprintln(w, "  Cal.com: SHADOW MODE — CALCOM_API_KEY is unset: decisions are recorded and logged, nothing is confirmed or declined")
		} else {
			fmt.Fprintf(w, "  Cal.com: API %s at %s, at most %d calls per %s across all workers, pending bookings reconciled every %s\n",
				a.cfg.CalAPIVersion, a.cfg.CalAPIURL, a.cfg.RateLimit, a.cfg.RateWindow, a.cfg.ReconcileInterval)
		}
	}
}

// hostPort makes a listen address printable as a URL host.
func hostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
