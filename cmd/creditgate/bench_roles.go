package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// roleStarter starts one creditgate role for a phase.
type roleStarter interface {
	start(ctx context.Context, r role, vars map[string]string) (roleProcess, error)
}

// stopRole stops a role after closing the bench's idle connections to it:
// net/http's graceful shutdown waits up to 5s for a connection on which no
// request has arrived yet, which the client's spare dials can be.
func (b *bench) stopRole(p roleProcess) error {
	b.client.CloseIdleConnections()
	return p.stop()
}

// roleProcess is a running role.
type roleProcess interface {
	// base is the role's http://host:port.
	base() string
	// peakRSS is the role's peak resident memory in bytes, 0 if unknown.
	peakRSS() int64
	// cpu is the CPU time the role has used so far, -1 if unknown.
	cpu() time.Duration
	// stop shuts the role down gracefully; calling it again is harmless.
	stop() error
	// logTail is the end of the role's log, to explain a failure ("" if
	// none).
	logTail() string
}

// startTimeout bounds a role's start-up (migrations, connecting).
const startTimeout = 30 * time.Second

// childRoles runs each role as a child process of binary, so that its
// memory is its own.
type childRoles struct {
	binary string
	dir    string // for the roles' logs
	getenv env
}

// passedEnv are the variables a child keeps from the bench's environment:
// the ones that tune the Go runtime, not creditgate.
var passedEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"}

func (c childRoles) start(ctx context.Context, r role, vars map[string]string) (roleProcess, error) {
	logf, err := os.CreateTemp(c.dir, string(r)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.Command(c.binary, string(r)) //nolint:noctx // stopped with SIGTERM and a wait, not killed by a context
	for _, k := range passedEnv {
		if v := c.getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	sort.Strings(cmd.Env)
	cmd.Stderr = logf
	cmd.SysProcAttr = childProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("bench: start creditgate %s: %w", r, err)
	}
	p := &child{role: r, cmd: cmd, log: logf, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				select {
				case addr <- strings.TrimSpace(rest):
				default: // only the banner's first line counts
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-addr:
		return p, nil
	case <-p.done:
		err = fmt.Errorf("bench: creditgate %s exited before listening: %w%s", r, p.err, p.logTail())
	case <-time.After(startTimeout):
		err = fmt.Errorf("bench: creditgate %s did not start within %s%s", r, startTimeout, p.logTail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = p.stop()
	return nil, err
}

type child struct {
	role     role
	cmd      *exec.Cmd
	log      *os.File
	addr     string
	done     chan struct{}
	err      error
	stopOnce sync.Once
	stopErr  error
}

func (p *child) base() string       { return p.addr }
func (p *child) peakRSS() int64     { return peakRSS(p.cmd.Process.Pid) }
func (p *child) cpu() time.Duration { return cpuTime(p.cmd.Process.Pid) }

func (p *child) stop() error {
	p.stopOnce.Do(func() {
		defer p.log.Close()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(startTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("bench: creditgate %s did not stop within %s%s", p.role, startTimeout, p.logTail())
			return
		}
		if p.err != nil {
			p.stopErr = fmt.Errorf("bench: creditgate %s: %w%s", p.role, p.err, p.logTail())
		}
	})
	return p.stopErr
}

// logTail is the last lines the child wrote to stderr.
func (p *child) logTail() string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines = lines[max(0, len(lines)-10):]
	return "\ncreditgate " + string(p.role) + "'s last log lines:\n  " + strings.Join(lines, "\n  ")
}

// inProcessRoles runs each role inside the bench process: no process of
// its own to measure, but a CPU profile of the bench then covers it.
type inProcessRoles struct{}

func (inProcessRoles) start(ctx context.Context, r role, vars map[string]string) (roleProcess, error) {
	cfg, err := bindConfig(flag.NewFlagSet(string(r), flag.ContinueOnError), func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	// Logged as a child would log them, then dropped.
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := newApp(ctx, cfg, r, log, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: creditgate %s: %w", r, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p := &inProcess{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.run(runCtx) }()
	return p, nil
}

type inProcess struct {
	a       *app
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	stopErr error
}

func (p *inProcess) base() string       { return "http://" + p.a.addr() }
func (p *inProcess) peakRSS() int64     { return 0 }
func (p *inProcess) cpu() time.Duration { return -1 }
func (p *inProcess) logTail() string    { return "" }

func (p *inProcess) stop() error {
	p.once.Do(func() {
		p.cancel()
		p.stopErr = <-p.done
		p.a.close()
		if p.stopErr != nil && !errors.Is(p.stopErr, context.Canceled) {
			p.stopErr = fmt.Errorf("bench: creditgate %s: %w", p.a.role, p.stopErr)
		}
	})
	return p.stopErr
}
