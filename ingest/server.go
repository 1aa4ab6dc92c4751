// Package ingest is creditgate's webhook endpoint: it verifies Cal.com's
// signature, decodes the webhook and queues a booking task, answering in
// milliseconds. It never touches the ledger: deciding is the worker's job.
package ingest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
)

// MaxBodyBytes is the largest webhook body accepted; larger ones get 413.
// Cal.com's booking payloads are a few KiB.
const MaxBodyBytes = 1 << 20

// Enqueuer queues tasks durably; *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Checker is one dependency /readyz checks (Redis, the database...).
type Checker struct {
	Name  string
	Check func(ctx context.Context) error
}

// Observer is told each webhook's trigger and outcome (for metrics). It may
// be nil.
type Observer func(trigger, outcome string)

// Config is what the ingest server needs.
type Config struct {
	// Secret is the webhook secret shared with Cal.com. Required: unsigned
	// webhooks are never accepted.
	Secret   string
	Enqueuer Enqueuer
	Ready    []Checker
	Logger   *slog.Logger
	Observe  Observer
	Now      func() time.Time
	// Extra routes (metrics, admin) mounted by the caller.
	Mount func(e *echo.Echo)
}

// NewServer returns the ingest HTTP handler.
func NewServer(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, string) {}
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	addRoutes(e, cfg)
	return e
}

// errorHandler answers every error as a small JSON body, never echoing an
// internal error to the caller.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := http.StatusInternalServerError
		msg := http.StatusText(code)
		if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
			code = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(code)
			}
		} else {
			log.Error("http", slog.String("path", c.Path()), slog.String("err", err.Error()))
		}
		_ = c.JSON(code, map[string]string{"error": msg})
	}
}
