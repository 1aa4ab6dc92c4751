package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
)

// runServe runs one role (serve, ingest or worker) until ctx ends.
func runServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer, r role) error {
	fs := flag.NewFlagSet(string(r), flag.ContinueOnError)
	cfg, err := bindConfig(fs, getenv)
	if err != nil {
		return err
	}
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		helpFor(fs, stdout, string(r)+" [flags]")
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("%s takes no arguments, got %q", r, pos)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	a, err := newApp(ctx, cfg, r, log, nil)
	if err != nil {
		return err
	}
	defer a.close()
	if a.embedded != nil {
		log.Warn("embedded in-memory broker: not durable, queued bookings are lost on exit; set REDIS_URL")
	}
	a.banner(stdout)
	return a.run(ctx)
}
