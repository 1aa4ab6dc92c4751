package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker/workertest"
)

const (
	testAPIKey = "test-api-key-do-not-log"
	testSecret = "test-webhook-secret"
)

// backends are the ledgers every end-to-end test runs against.
var backends = []string{"sqlite", "postgres"}

// testBundle is one creditgate serve running in-process against real Redis
// (or the embedded broker), a ledger backend and a fake Cal.com.
type testBundle struct {
	fake    *calapitest.Server
	base    string // http://host:port
	ledger  credits.Store
	stderr  *syncBuffer
	stdout  *syncBuffer
	backend string
}

// dbURL is a fresh ledger of the named backend for this test.
func dbURL(t testing.TB, backend string) string {
	t.Helper()
	if backend == "postgres" {
		return workertest.PostgresURL(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "ledger.db")
}

// setup starts run(ctx, "serve") with env (over sensible test defaults) and
// waits for /healthz.
func setup(t testing.TB, backend string, env map[string]string) *testBundle {
	t.Helper()
	b, _ := setupWithVars(t, backend, env)
	return b
}

// setupWithVars is setup, also returning the environment serve got.
func setupWithVars(t testing.TB, backend string, env map[string]string) (*testBundle, map[string]string) {
	t.Helper()
	fake := calapitest.NewServer(testAPIKey)
	t.Cleanup(fake.Close)
	vars := map[string]string{
		"REDIS_URL":             workertest.RedisURL(t),
		"DATABASE_URL":          dbURL(t, backend),
		"CALCOM_API_URL":        fake.URL,
		"CALCOM_API_KEY":        testAPIKey,
		"CALCOM_WEBHOOK_SECRET": testSecret,
		"CREDITGATE_LISTEN":     "127.0.0.1:0",
		// Off unless a test turns it on: a round racing a test's own
		// webhook would make its acknowledgement a duplicate.
		"CREDITGATE_RECONCILE_INTERVAL": "0",
		// Cal.com's real budget (100 a minute, a burst of 10) would hold a
		// test's dozen calls back for seconds; TestRateLimit* test it.
		"CALCOM_RATE_LIMIT": "100000",
	}
	for k, v := range env {
		vars[k] = v
	}
	b := &testBundle{fake: fake, stderr: &syncBuffer{}, stdout: &syncBuffer{}, backend: backend}
	b.base = startRun(t, []string{"serve"}, vars, b.stdout, b.stderr)
	t.Cleanup(func() {
		if t.Failed() {
			logs := b.stderr.String()
			t.Logf("creditgate's last logs:\n%s", logs[max(0, len(logs)-4000):])
		}
	})
	l, err := openLedger(context.Background(), vars["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	b.ledger = l
	return b, vars
}

// startRun runs creditgate with args until the test ends and returns the
// base URL it listens on, read from its banner.
func startRun(t testing.TB, args []string, vars map[string]string, stdout, stderr *syncBuffer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(""), pw, stderr)
		_ = pw.Close()
		errc <- err
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stdout.WriteString(line + "\n")
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				addrc <- strings.TrimSpace(rest)
			}
		}
	}()
	var base string
	select {
	case base = <-addrc:
	case err := <-errc:
		cancel()
		t.Fatalf("creditgate %v exited before listening: %v\nstderr:\n%s", args, err, stderr.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("creditgate %v did not start\nstderr:\n%s", args, stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			require.NoError(t, err, "creditgate %v exit", args)
		case <-time.After(40 * time.Second):
			t.Errorf("creditgate %v did not stop", args)
		}
	})
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "healthz")
	return base
}

// booking adds a booking to the fake Cal.com and returns it.
func (b *testBundle) booking(uid, email string, eventType int64, status string) calapi.Booking {
	bk := calapi.Booking{UID: uid, ID: int64(len(uid)) + time.Now().UnixNano()%1e6, Status: status,
		EventTypeID: eventType, AttendeeEmail: email,
		Start: time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)}
	bk.End = bk.Start.Add(time.Hour)
	b.fake.AddBooking(bk)
	return bk
}

// post sends a signed webhook and returns the status code.
func (b *testBundle) post(t testing.TB, trigger string, bk calapi.Booking, extra map[string]any) int {
	t.Helper()
	body := calapitest.WebhookBody(trigger, bk, extra)
	resp, err := calapitest.PostWebhook(context.Background(), http.DefaultClient, b.base+"/webhooks/calcom", testSecret, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// status is the booking's state at the fake Cal.com.
func (b *testBundle) status(uid string) string {
	bk, _ := b.fake.Booking(uid)
	return bk.Status
}

// decided waits until creditgate recorded a decision for uid and returns it.
func (b *testBundle) decided(t *testing.T, uid string) credits.Booking {
	t.Helper()
	var rec credits.Booking
	waitFor(t, 15*time.Second, func() bool {
		r, err := b.ledger.GetBooking(context.Background(), uid)
		rec = r
		return err == nil && r.Decision != ""
	}, "decision on "+uid)
	return rec
}

func (b *testBundle) balance(t *testing.T, email string) int64 {
	t.Helper()
	n, err := b.ledger.Balance(context.Background(), email)
	require.NoError(t, err)
	return n
}

func (b *testBundle) grant(t *testing.T, email string, n int64) {
	t.Helper()
	_, err := b.ledger.Grant(context.Background(), email, n, credits.GrantOptions{Note: "test"})
	require.NoError(t, err)
}

// entries counts a member's ledger entries of a kind.
func (b *testBundle) entries(t *testing.T, email string, kind credits.Kind) int {
	t.Helper()
	h, err := b.ledger.History(context.Background(), email)
	require.NoError(t, err)
	n := 0
	for _, e := range h {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	poll(t, d, 5*time.Millisecond, cond, what)
}

// poll asks cond every interval until it holds, failing the test after d.
func poll(t testing.TB, d, interval time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}

// syncBuffer is a goroutine-safe output capture.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.Write(p)
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sb.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.String()
}

func uidFor(t *testing.T, n int) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), n)
}
