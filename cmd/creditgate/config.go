package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// config is every setting of the contract, read from the environment and
// overridden by flags of the same meaning.
type config struct {
	Listen            string
	RedisURL          string
	DatabaseURL       string
	CalAPIURL         string
	CalAPIKey         string
	CalAPIVersion     string
	WebhookSecret     string
	DefaultCost       int64
	LateCancelWindow  time.Duration
	ReconcileInterval time.Duration
	RateLimit         int
	RateWindow        time.Duration
	AdminToken        string
	AdminReadOnly     bool
	Concurrency       int
	TaskCheck         time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level
}

// setting ties one environment variable to its flag.
type setting struct {
	env, flag, def, help string
	set                  func(c *config, v string) error
}

func str(p func(c *config) *string) func(*config, string) error {
	return func(c *config, v string) error { *p(c) = v; return nil }
}

func dur(name string, p func(c *config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) error {
		if v == "0" {
			*p(c) = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%s: %q is not a duration like 24h or 90m", name, v)
		}
		*p(c) = d
		return nil
	}
}

func num(name string, min int64, p func(c *config) *int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("%s: %q is not a whole number of at least %d", name, v, min)
		}
		*p(c) = n
		return nil
	}
}

func integer(name string, min int, p func(c *config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return fmt.Errorf("%s: %q is not a whole number of at least %d", name, v, min)
		}
		*p(c) = n
		return nil
	}
}

func boolean(name string, p func(c *config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", name, v)
		}
		*p(c) = b
		return nil
	}
}

var settings = []setting{
	{"CREDITGATE_LISTEN", "listen", ":8080", "HTTP listen address", str(func(c *config) *string { return &c.Listen })},
	{"REDIS_URL", "redis-url", "", "Redis URL; unset: an embedded in-memory broker (not durable)", str(func(c *config) *string { return &c.RedisURL })},
	{"DATABASE_URL", "database-url", "sqlite:creditgate.db", "ledger: sqlite:PATH or postgres://...", str(func(c *config) *string { return &c.DatabaseURL })},
	{"CALCOM_API_URL", "calcom-api-url", "https://api.cal.com", "Cal.com API base, without version", str(func(c *config) *string { return &c.CalAPIURL })},
	{"CALCOM_API_KEY", "calcom-api-key", "", "Cal.com API key; unset: shadow mode (decide and record, call nothing)", str(func(c *config) *string { return &c.CalAPIKey })},
	{"CALCOM_API_VERSION", "calcom-api-version", "v2", "Cal.com API version: v2, or v1 for legacy instances", str(func(c *config) *string { return &c.CalAPIVersion })},
	{"CALCOM_WEBHOOK_SECRET", "calcom-webhook-secret", "", "webhook secret; unset: generated and kept beside the ledger", str(func(c *config) *string { return &c.WebhookSecret })},
	{"CREDITGATE_DEFAULT_COST", "default-cost", "1", "credits per booking where no price is set; 0 = free", num("CREDITGATE_DEFAULT_COST", 0, func(c *config) *int64 { return &c.DefaultCost })},
	{"CREDITGATE_LATE_CANCEL_WINDOW", "late-cancel-window", "24h", "a booker's cancellation this close to the start forfeits; 0 = always refund", dur("CREDITGATE_LATE_CANCEL_WINDOW", func(c *config) *time.Duration { return &c.LateCancelWindow })},
	{"CREDITGATE_RECONCILE_INTERVAL", "reconcile-interval", "5m", "how often pending bookings at Cal.com are listed and decided", dur("CREDITGATE_RECONCILE_INTERVAL", func(c *config) *time.Duration { return &c.ReconcileInterval })},
	{"CALCOM_RATE_LIMIT", "calcom-rate-limit", "100", "Cal.com calls a minute, shared by all workers", integer("CALCOM_RATE_LIMIT", 1, func(c *config) *int { return &c.RateLimit })},
	{"CALCOM_RATE_WINDOW", "calcom-rate-window", "1m", "the window CALCOM_RATE_LIMIT counts over (shorter in tests)", dur("CALCOM_RATE_WINDOW", func(c *config) *time.Duration { return &c.RateWindow })},
	{"CREDITGATE_ADMIN_TOKEN", "admin-token", "", "guards the dashboard and admin API; unset: admin routes off", str(func(c *config) *string { return &c.AdminToken })},
	{"CREDITGATE_ADMIN_READONLY", "admin-readonly", "false", "the dashboard shows queues but cannot delete, run or archive tasks", boolean("CREDITGATE_ADMIN_READONLY", func(c *config) *bool { return &c.AdminReadOnly })},
	{"CREDITGATE_CONCURRENCY", "concurrency", "20", "decisions run at once by one worker process", integer("CREDITGATE_CONCURRENCY", 1, func(c *config) *int { return &c.Concurrency })},
	{"CREDITGATE_TASK_CHECK_INTERVAL", "task-check-interval", "5ms", "how often an idle worker polls Redis for new tasks (asynq default 1s adds up to a second per decision)", dur("CREDITGATE_TASK_CHECK_INTERVAL", func(c *config) *time.Duration { return &c.TaskCheck })},
	{"CREDITGATE_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(c *config, v string) error {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("CREDITGATE_LOG_LEVEL: %q is not debug, info, warn or error", v)
		}
		return nil
	}},
	{"CREDITGATE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "25s", "how long in-flight decisions may finish on SIGTERM", dur("CREDITGATE_SHUTDOWN_TIMEOUT", func(c *config) *time.Duration { return &c.ShutdownTimeout })},
}

// flagValue lets a setting be a flag.Value that records errors.
type flagValue struct {
	s   setting
	c   *config
	raw string
}

func (f *flagValue) String() string { return f.raw }

// IsBoolFlag lets a true/false setting be given as a bare --flag.
func (f *flagValue) IsBoolFlag() bool { return f.s.def == "false" }
func (f *flagValue) Set(v string) error {
	f.raw = v
	return f.s.set(f.c, v)
}

// bindConfig registers every setting as a flag on fs, with its default
// taken from the environment, and returns the config they fill.
func bindConfig(fs *flag.FlagSet, getenv env) (*config, error) {
	c := &config{}
	for _, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		if err := s.set(c, v); err != nil {
			return nil, usagef("%s", err)
		}
		shown := redactURL(v)
		if isSecret(s.env) && v != "" {
			shown = "(set)"
		}
		fs.Var(&flagValue{s: s, c: c, raw: shown}, s.flag, s.help+" ($"+s.env+")")
	}
	return c, nil
}

func isSecret(envName string) bool {
	switch envName {
	case "CALCOM_API_KEY", "CALCOM_WEBHOOK_SECRET", "CREDITGATE_ADMIN_TOKEN":
		return true
	}
	return false
}
