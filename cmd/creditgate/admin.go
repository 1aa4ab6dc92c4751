package main

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/labstack/echo/v4"

	"github.com/creditgate/creditgate/credits"
)

// adminAuth lets a request through only with the admin token, as a bearer
// token (scripts) or as the password of HTTP basic auth (a browser opening
// the dashboard). Comparison is constant-time; the token is never logged.
func adminAuth(token string) echo.MiddlewareFunc {
	want := []byte(token)
	ok := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), want) == 1 }
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get("Authorization")
			if bearer, found := strings.CutPrefix(h, "Bearer "); found && ok(strings.TrimSpace(bearer)) {
				return next(c)
			}
			if _, pass, found := c.Request().BasicAuth(); found && ok(pass) {
				return next(c)
			}
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="creditgate admin"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "admin token required")
		}
	}
}

// mountAdmin serves the asynqmon dashboard at /admin/queues behind the
// admin token. Without a token no admin route exists: they answer 404.
func (a *app) mountAdmin(e *echo.Echo, connOpt asynq.RedisConnOpt) {
	if a.cfg.AdminToken == "" {
		return
	}
	mon := asynqmon.New(asynqmon.Options{
		RootPath:     "/admin/queues",
		RedisConnOpt: connOpt,
		ReadOnly:     a.cfg.AdminReadOnly,
	})
	a.closers = append(a.closers, func() { _ = mon.Close() })
	g := e.Group("/admin", adminAuth(a.cfg.AdminToken))
	g.Any("/queues", echo.WrapHandler(mon))
	g.Any("/queues/*", echo.WrapHandler(mon))
	a.mountAdminAPI(g)
}

// mountAdminAPI serves the dead letters to scripts: list, and replay unless
// the admin is read-only. Only roles with the ledger open have them.
func (a *app) mountAdminAPI(g *echo.Group) {
	if a.ledger == nil {
		return
	}
	r := replayer{store: a.ledger, inspector: a.inspector, client: a.client}
	g.GET("/api/dead-letters", func(c echo.Context) error {
		ds, err := a.ledger.DeadLetters(c.Request().Context(), c.QueryParam("all") != "true")
		if err != nil {
			return err
		}
		rows := make([]deadLetterJSON, 0, len(ds))
		for _, d := range ds {
			rows = append(rows, toJSON(d, true))
		}
		return c.JSON(http.StatusOK, rows)
	})
	g.POST("/api/dead-letters/:id/replay", func(c echo.Context) error {
		if a.cfg.AdminReadOnly {
			return echo.NewHTTPError(http.StatusForbidden, "admin is read-only")
		}
		how, err := r.replay(c.Request().Context(), c.Param("id"))
		if errors.Is(err, credits.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "no such dead letter")
		}
		if err != nil {
			a.log.Error("replay", slog.String("task_id", c.Param("id")), slog.String("err", err.Error()))
			return echo.NewHTTPError(http.StatusConflict, "not replayed: see the logs")
		}
		return c.JSON(http.StatusOK, map[string]string{"id": c.Param("id"), "status": "replayed", "how": how})
	})
}
