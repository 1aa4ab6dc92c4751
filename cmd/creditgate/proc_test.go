package main

// Helpers for tests that run creditgate, redis-server and postgres as real
// OS processes: the crash and outage tests in survival_test.go.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// builtBinary is the creditgate binary shared by the tests running at once.
// It is reference-counted rather than built under a sync.Once because the
// package has no TestMain to remove it at the end: the last test using it
// removes it, and a later test builds it again (from the build cache).
var builtBinary struct {
	mu    sync.Mutex
	users int
	dir   string
}

// buildBinary builds ./cmd/creditgate and returns the executable's path,
// valid until t ends.
func buildBinary(t testing.TB) string {
	t.Helper()
	builtBinary.mu.Lock()
	defer builtBinary.mu.Unlock()
	if builtBinary.users == 0 {
		dir, err := os.MkdirTemp("", "creditgate-bin-")
		if err != nil {
			t.Fatalf("build creditgate: %v", err)
		}
		start := time.Now()
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "creditgate"), ".").CombinedOutput()
		if err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("go build ./cmd/creditgate: %v\n%s", err, out)
		}
		t.Logf("built creditgate in %s", time.Since(start).Round(time.Millisecond))
		builtBinary.dir = dir
	}
	builtBinary.users++
	t.Cleanup(func() {
		builtBinary.mu.Lock()
		defer builtBinary.mu.Unlock()
		if builtBinary.users--; builtBinary.users == 0 {
			_ = os.RemoveAll(builtBinary.dir)
		}
	})
	return filepath.Join(builtBinary.dir, "creditgate")
}

// proc is a child process whose output the test keeps.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when it has exited
	err    error         // Wait's answer, once done
}

// startProc starts a child that dies with the test binary (a timed-out run
// leaves nothing behind), as the user named by cred when it is not nil.
func startProc(t testing.TB, name string, cred *syscall.Credential, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(path, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output (tail):\n%s\n%s", name, tail(p.stdout.String()), tail(p.stderr.String()))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and, unless it is SIGSTOP or SIGCONT, waits up to d
// for the process to exit, killing it after that.
func (p *proc) signal(t testing.TB, sig syscall.Signal, d time.Duration) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT {
		return
	}
	select {
	case <-p.done:
	case <-time.After(d):
		t.Errorf("%s did not exit within %s of %s: killed", p.name, d, sig)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(s string) string {
	const n = 6000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// creditgateProc is one creditgate role running as a process.
type creditgateProc struct {
	*proc
	base string // http://host:port, from the banner
}

var bannerAddr = regexp.MustCompile(`creditgate \w+ listening on (http://\S+)`)

// startCreditgate runs "creditgate role" with vars and waits until its
// /healthz answers. When the test ends it gets SIGTERM and must exit 0.
func startCreditgate(t testing.TB, bin, role string, vars map[string]string) *creditgateProc {
	t.Helper()
	// Every setting empty (unset) first, so that nothing in the test's own
	// environment leaks in.
	var env []string
	for _, s := range settings {
		env = append(env, s.env+"=")
	}
	env = append(env, "CREDITGATE_LISTEN=127.0.0.1:0", "CREDITGATE_SHUTDOWN_TIMEOUT=5s")
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	p := &creditgateProc{proc: startProc(t, "creditgate "+role, nil, env, bin, role)}
	t.Cleanup(func() {
		if p.exited() {
			return
		}
		p.signal(t, syscall.SIGCONT, 0) // in case a test left it stopped
		p.signal(t, syscall.SIGTERM, 30*time.Second)
		if p.err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit 0", p.name, p.err)
		}
	})
	waitFor(t, 30*time.Second, func() bool {
		if p.exited() {
			t.Fatalf("%s exited before listening: %v\n%s", p.name, p.err, tail(p.stderr.String()))
		}
		m := bannerAddr.FindStringSubmatch(p.stdout.String())
		if m == nil {
			return false
		}
		p.base = m[1]
		return true
	}, p.name+" banner")
	waitFor(t, 10*time.Second, func() bool { return getStatus(p.base+"/healthz") == http.StatusOK }, p.name+" /healthz")
	return p
}

// waitSlowly is waitFor polling every 100 ms, for waits of a minute or
// more that would otherwise keep a core busy asking.
func waitSlowly(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	poll(t, d, 100*time.Millisecond, cond, what)
}

// getStatus is the status of GET url, or 0 when it could not be asked.
func getStatus(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freePort is a TCP port nothing listens on at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// needTool finds a server binary, skipping the test when it is missing
// (failing it on CI, which has them).
func needTool(t testing.TB, name string, globs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, g := range globs {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			slices.Sort(m)
			return m[len(m)-1]
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must have it", name)
	}
	t.Skipf("%s is not installed: this test runs its own private server", name)
	return ""
}

// sharedLedgerURL is a ledger several processes can share: a schema on
// TEST_DATABASE_URL's PostgreSQL, else a SQLite file.
func sharedLedgerURL(t testing.TB) string {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return dbURL(t, "postgres")
	}
	return dbURL(t, "sqlite")
}

// redisServer is a private redis-server that a test may stop and restart.
type redisServer struct {
	bin, dir string
	port     int
	proc     *proc
}

// URL is the server's database 0.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// startRedis starts redis-server on a free port with an append-only file
// synced on every write, so that what it acknowledged survives a SIGKILL.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	r := &redisServer{bin: needTool(t, "redis-server"), dir: t.TempDir(), port: freePort(t)}
	r.start(t)
	t.Cleanup(func() { r.proc.signal(t, syscall.SIGKILL, 10*time.Second) })
	return r
}

func (r *redisServer) start(t testing.TB) {
	t.Helper()
	r.proc = startProc(t, "redis-server", nil, nil, r.bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--maxmemory-policy", "noeviction")
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer c.Close()
	waitFor(t, 20*time.Second, func() bool {
		if r.proc.exited() {
			t.Fatalf("redis-server exited: %v\n%s", r.proc.err, r.proc.stdout.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err() == nil // LOADING while it replays the AOF
	}, "redis-server PING")
}

// kill stops Redis the hard way, as a crash or an OOM kill would.
func (r *redisServer) kill(t testing.TB) { r.proc.signal(t, syscall.SIGKILL, 10*time.Second) }

// pgCluster is a private PostgreSQL cluster that a test may stop and restart.
type pgCluster struct {
	bin, dir string
	port     int
	cred     *syscall.Credential // the postgres user, when the test runs as root
	proc     *proc
}

// URL is the cluster's postgres database.
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// startPostgres makes a cluster with initdb and starts it on a free port.
// PostgreSQL refuses to run as root: then it runs as the postgres user, in
// a directory of its own (t.TempDir's parents are closed to other users).
func startPostgres(t testing.TB) *pgCluster {
	t.Helper()
	initdb := needTool(t, "initdb", "/usr/lib/postgresql/*/bin/initdb")
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real // postgres lives beside the real initdb, not beside a link to it
	}
	c := &pgCluster{bin: filepath.Dir(initdb), port: freePort(t)}
	dir, err := os.MkdirTemp("", "creditgate-pg-")
	if err != nil {
		t.Fatalf("postgres dir: %v", err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
	}
	p := startProc(t, "initdb", c.cred, nil, initdb, "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	<-p.done
	if p.err != nil {
		t.Fatalf("initdb: %v\n%s%s", p.err, p.stdout.String(), p.stderr.String())
	}
	c.start(t)
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *pgCluster) start(t testing.TB) {
	t.Helper()
	c.proc = startProc(t, "postgres", c.cred, nil, filepath.Join(c.bin, "postgres"),
		"-D", filepath.Join(c.dir, "data"), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1")
	waitFor(t, 30*time.Second, func() bool {
		if c.proc.exited() {
			t.Fatalf("postgres exited: %v\n%s", c.proc.err, tail(c.proc.stderr.String()))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return false
		}
		_ = conn.Close(ctx)
		return true
	}, "postgres accepting connections")
}

// stop is PostgreSQL's immediate shutdown (SIGQUIT): every connection is
// cut at once and the next start runs crash recovery.
func (c *pgCluster) stop(t testing.TB) { c.proc.signal(t, syscall.SIGQUIT, 30*time.Second) }
