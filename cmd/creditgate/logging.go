package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// asynqLogger sends asynq's own logs through slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) {
	l.log.Debug(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Info(args ...any) {
	l.log.Info(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Warn(args ...any) {
	l.log.Warn(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Error(args ...any) {
	l.log.Error(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Fatal(args ...any) {
	l.log.Log(context.Background(), slog.LevelError+4, fmt.Sprint(args...), slog.String("component", "asynq"))
	os.Exit(1)
}
