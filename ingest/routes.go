package ingest

import "github.com/labstack/echo/v4"

// addRoutes lists every route ingest serves.
func addRoutes(e *echo.Echo, cfg Config) {
	e.POST("/webhooks/calcom", handleWebhook(cfg.Secret, cfg.Enqueuer, cfg.Logger, cfg.Observe, cfg.Now))
	e.GET("/healthz", handleHealthz())
	e.GET("/readyz", handleReadyz(cfg.Ready))
	if cfg.Mount != nil {
		cfg.Mount(e)
	}
}
