package creditstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

// OpenDSN opens the Store at dsn, as a process other than the test's own
// would.
type OpenDSN func(ctx context.Context, dsn string) (credits.Store, error)

// The race between processes: each debits its own uids and some shared
// ones against a balance smaller than the uids on offer.
const (
	processes       = 4
	ownPerProcess   = 25
	shared          = 5
	processesCredit = 40
	processesEmail  = "race@example.com"

	envHelper = "CREDITSTEST_HELPER_PROCESS" // the child's index
	envDSN    = "CREDITSTEST_HELPER_DSN"
	lineReady = "creditstest: ready"
	lineDone  = "creditstest: debited"
)

// Processes races debits from several OS processes sharing the database at
// dsn, which must be fresh: each process is the test binary run again with
// -test.run=^TestHelperProcess$, so the calling package must have
//
//	func TestHelperProcess(t *testing.T) { creditstest.HelperProcess(t, open) }
//
// Once every process has opened the store, all start together, each
// debiting 25 uids of its own and 5 shared ones, 1 credit each, against a
// balance of 40. Exactly 40 debits must land, each uid at most once, and
// the balance must end at 0 without ever going below.
func Processes(t *testing.T, dsn string, open OpenDSN) {
	ctx := t.Context()
	s, err := open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.Grant(ctx, processesEmail, processesCredit, credits.GrantOptions{})
	require.NoError(t, err)

	children := make([]*child, processes)
	for i := range children {
		children[i] = startChild(t, i, dsn)
	}
	for _, c := range children {
		c.waitFor(t, lineReady)
	}
	for _, c := range children {
		require.NoError(t, c.stdin.Close()) // the starting gun
	}
	debited := 0
	for _, c := range children {
		debited += c.finish(t)
	}
	require.Equal(t, processesCredit, debited, "debits reported by the processes")

	require.Zero(t, requireConsistent(t, ctx, s, processesEmail))
	es, err := s.History(ctx, processesEmail)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, e := range es {
		if e.Kind == credits.KindDebit {
			require.False(t, seen[e.BookingUID], "uid %s debited twice", e.BookingUID)
			seen[e.BookingUID] = true
		}
	}
	require.Len(t, seen, processesCredit)
}

// HelperProcess is the child side of Processes; it does nothing in a test
// binary not started by Processes.
func HelperProcess(t *testing.T, open OpenDSN) {
	idx, err := strconv.Atoi(os.Getenv(envHelper))
	if err != nil {
		t.Skip("helper process for creditstest.Processes")
	}
	ctx := t.Context()
	s, err := open(ctx, os.Getenv(envDSN))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	uids := make([]string, 0, ownPerProcess+shared)
	for j := range ownPerProcess {
		uids = append(uids, fmt.Sprintf("p%d-uid-%d", idx, j))
	}
	for j := range shared {
		uids = append(uids, fmt.Sprintf("shared-uid-%d", j))
	}
	// Each process meets the shared uids at different moments.
	r := rand.New(rand.NewPCG(uint64(idx), 7))
	r.Shuffle(len(uids), func(i, j int) { uids[i], uids[j] = uids[j], uids[i] })

	fmt.Println(lineReady)
	_, _ = io.Copy(io.Discard, os.Stdin) // until Processes closes it
	debited := 0
	for _, uid := range uids {
		res, err := s.Debit(ctx, credits.Debit{Email: processesEmail, BookingUID: uid, Amount: 1})
		switch {
		case errors.Is(err, credits.ErrInsufficient):
		case err != nil:
			t.Fatalf("debit %s: %v", uid, err)
		case !res.Already:
			debited++
		}
	}
	fmt.Printf("%s %d\n", lineDone, debited)
}

// child is one helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *bytes.Buffer
	seen   strings.Builder // stdout read so far, for failure messages
}

func startChild(t *testing.T, idx int, dsn string) *child {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envHelper, idx), envDSN+"="+dsn)
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	var err error
	c.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c.stdout = bufio.NewReader(out)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // the test failed before Wait
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// waitFor reads the child's output up to a line starting with prefix and
// returns the rest of that line.
func (c *child) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	for {
		line, err := c.stdout.ReadString('\n')
		c.seen.WriteString(line)
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(rest)
		}
		if err != nil {
			t.Fatalf("helper process ended before %q: %v\nstdout:\n%s\nstderr:\n%s",
				prefix, err, c.seen.String(), c.stderr)
		}
	}
}

// finish waits for the child and returns how many debits it made.
func (c *child) finish(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(c.waitFor(t, lineDone))
	require.NoError(t, err)
	_, _ = io.Copy(&c.seen, c.stdout)
	require.NoError(t, c.cmd.Wait(), "helper process\nstdout:\n%s\nstderr:\n%s", c.seen.String(), c.stderr)
	return n
}
