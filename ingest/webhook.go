package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/worker"
)

// Webhook outcomes, as reported to the Observer and in the response body.
const (
	OutcomeQueued       = "queued"
	OutcomeDuplicate    = "duplicate"
	OutcomeIgnored      = "ignored"
	OutcomeBadSignature = "bad_signature"
	OutcomeBadRequest   = "bad_request"
	OutcomeTooLarge     = "too_large"
	OutcomeUnavailable  = "unavailable"
)

// enqueueTimeout bounds how long a webhook waits on Redis: Cal.com may hold
// the booker's page on this answer.
const enqueueTimeout = 3 * time.Second

type webhookResponse struct {
	Status string `json:"status"`
	TaskID string `json:"taskId,omitempty"`
}

// handleWebhook verifies, decodes and queues one Cal.com webhook. It answers
// 2xx only once the task is in Redis (or known there as a duplicate).
func handleWebhook(secret string, q Enqueuer, log *slog.Logger, observe Observer, now func() time.Time) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			observe("", OutcomeBadRequest)
			return echo.NewHTTPError(http.StatusBadRequest, "could not read body")
		}
		if len(body) > MaxBodyBytes {
			observe("", OutcomeTooLarge)
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
		}
		if err := calapi.VerifySignature(secret, body, r.Header.Get(calapi.SignatureHeader)); err != nil {
			observe("", OutcomeBadSignature)
			log.Warn("webhook rejected", slog.String("reason", "bad signature"), slog.String("remote", c.RealIP()))
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong "+calapi.SignatureHeader)
		}
		wh, err := calapi.DecodeWebhook(body)
		if err != nil {
			observe("", OutcomeBadRequest)
			log.Warn("webhook rejected", slog.String("reason", err.Error()))
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		if len(wh.Warnings) > 0 {
			log.Warn("webhook fields unreadable, left empty", slog.String("uid", wh.Payload.UID),
				slog.String("trigger", wh.TriggerEvent), slog.Any("warnings", wh.Warnings))
		}
		bt, ok := worker.TaskFromWebhook(wh, "webhook", now())
		if !ok {
			observe(wh.TriggerEvent, OutcomeIgnored)
			return c.JSON(http.StatusOK, webhookResponse{Status: OutcomeIgnored})
		}
		task, err := worker.NewBookingTask(bt)
		if err != nil {
			observe(wh.TriggerEvent, OutcomeBadRequest)
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		id := worker.TaskID(bt.Trigger, bt.UID)
		ctx, cancel := context.WithTimeout(r.Context(), enqueueTimeout)
		defer cancel()
		_, err = q.EnqueueContext(ctx, task)
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
			observe(wh.TriggerEvent, OutcomeDuplicate)
			log.Info("webhook duplicate", slog.String("uid", bt.UID), slog.String("trigger", bt.Trigger))
			return c.JSON(http.StatusOK, webhookResponse{Status: OutcomeDuplicate, TaskID: id})
		case err != nil:
			observe(wh.TriggerEvent, OutcomeUnavailable)
			log.Error("webhook not queued", slog.String("uid", bt.UID), slog.String("trigger", bt.Trigger),
				slog.String("err", err.Error()))
			return echo.NewHTTPError(http.StatusServiceUnavailable, "queue unavailable, retry later")
		}
		observe(wh.TriggerEvent, OutcomeQueued)
		log.Info("webhook queued", slog.String("uid", bt.UID), slog.String("trigger", bt.Trigger))
		return c.JSON(http.StatusAccepted, webhookResponse{Status: OutcomeQueued, TaskID: id})
	}
}
