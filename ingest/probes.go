package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// NewProbeServer serves only /healthz, /readyz and whatever mount adds: the
// HTTP face of a role that takes no webhooks (the worker).
func NewProbeServer(ready []Checker, log *slog.Logger, mount func(e *echo.Echo)) *echo.Echo {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(log)
	e.GET("/healthz", handleHealthz())
	e.GET("/readyz", handleReadyz(ready))
	if mount != nil {
		mount(e)
	}
	return e
}

// handleHealthz answers while the process is alive.
func handleHealthz() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleReadyz checks every dependency; 503 naming the ones that fail.
// Errors are not echoed: they may hold addresses.
func handleReadyz(checks []Checker) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		status := map[string]string{}
		code := http.StatusOK
		for _, ch := range checks {
			if err := ch.Check(ctx); err != nil {
				status[ch.Name] = "unavailable"
				code = http.StatusServiceUnavailable
				continue
			}
			status[ch.Name] = "ok"
		}
		return c.JSON(code, status)
	}
}
