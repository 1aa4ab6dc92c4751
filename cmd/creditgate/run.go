package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps run's error to the contract's exit codes: 0 done, 1 failed,
// 2 bad usage.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "creditgate: %s\n", ue.msg)
		fmt.Fprintln(stderr, "run 'creditgate help' for usage")
		return 2
	default:
		fmt.Fprintf(stderr, "creditgate: %s\n", err)
		return 1
	}
}

const usage = `creditgate admits a Cal.com booking only when the booker has enough credit.

Usage:
  creditgate serve                      ingest + worker + dashboard in one process
  creditgate ingest                     the webhook endpoint alone
  creditgate worker                     the deciding workers alone
  creditgate demo                       the whole flow on this machine, no set-up
  creditgate credits grant EMAIL AMOUNT [--expires DATE] [--note TEXT]
  creditgate credits balance EMAIL [--json]
  creditgate credits history EMAIL [--json]
  creditgate credits adjust EMAIL ±N --note TEXT
  creditgate credits alias EMAIL OTHER_EMAIL
  creditgate credits import FILE.csv
  creditgate prices set EVENT_TYPE_ID COST
  creditgate prices list [--json]
  creditgate dlq list [--json] [--all] | dlq show ID | dlq replay ID|--all
  creditgate migrate                    bring the ledger schema up to this version (before a roll-out)
  creditgate healthcheck [--url URL]      probe /healthz (container health checks)
  creditgate bench [--count N] [--rate R] [--json]   measure creditgate against raw asynq (needs REDIS_URL)

Configuration comes from environment variables, each with a flag of the same
meaning (run 'creditgate serve --help' to list them).
`

// env reads configuration variables.
type env func(string) string

// run is the whole program: main only adds the signal context and exit code.
func run(ctx context.Context, args []string, getenv env, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr, roleServe)
	case "ingest":
		return runServe(ctx, rest, getenv, stdout, stderr, roleIngest)
	case "worker":
		return runServe(ctx, rest, getenv, stdout, stderr, roleWorker)
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "credits":
		return runCredits(ctx, rest, getenv, stdin, stdout, stderr)
	case "prices":
		return runPrices(ctx, rest, getenv, stdout, stderr)
	case "dlq":
		return runDLQ(ctx, rest, getenv, stdout)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout)
	case "healthcheck":
		return runHealthcheck(ctx, rest, getenv, stdout)
	case "bench":
		return runBench(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}

var negativeNumber = regexp.MustCompile(`^-\d+$`)

// parseArgs parses fs over args and returns the positional arguments,
// letting flags come before or after them ("credits balance EMAIL --json")
// and taking "-3" as a number, not a flag.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if len(args) > 0 && negativeNumber.MatchString(args[0]) {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %s", fs.Name(), strings.TrimSpace(err.Error()))
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// helpFor prints a flag set's usage when --help was asked.
func helpFor(fs *flag.FlagSet, w io.Writer, synopsis string) {
	fmt.Fprintf(w, "Usage: creditgate %s\n\nFlags:\n", synopsis)
	fs.SetOutput(w)
	fs.PrintDefaults()
}
