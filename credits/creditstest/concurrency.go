package creditstest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

// race runs f(0..n-1) on n goroutines released together and returns
// their results.
func race[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

type debitOutcome struct {
	res credits.DebitResult
	err error
}

func testConcurrentDistinct(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	b.grant(t, ann, 7, 0)
	outs := race(50, func(i int) debitOutcome {
		res, err := b.s.Debit(b.ctx, credits.Debit{Email: ann, BookingUID: fmt.Sprintf("uid-%d", i), Amount: 1})
		return debitOutcome{res, err}
	})
	debited, short := 0, 0
	for _, o := range outs {
		switch {
		case errors.Is(o.err, credits.ErrInsufficient):
			short++
		default:
			require.NoError(t, o.err)
			require.False(t, o.res.Already)
			debited++
		}
	}
	require.Equal(t, 7, debited)
	require.Equal(t, 43, short)
	require.Zero(t, requireConsistent(t, b.ctx, b.s, ann))
}

func testConcurrentSameUID(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	b.grant(t, ann, 10, 0)
	outs := race(20, func(int) debitOutcome {
		res, err := b.s.Debit(b.ctx, credits.Debit{Email: ann, BookingUID: "uid-1", Amount: 2})
		return debitOutcome{res, err}
	})
	charged := 0
	for _, o := range outs {
		require.NoError(t, o.err)
		require.Equal(t, outs[0].res.Entry.ID, o.res.Entry.ID, "every call sees the one debit")
		if !o.res.Already {
			charged++
		}
	}
	require.Equal(t, 1, charged)
	require.Equal(t, int64(8), requireConsistent(t, b.ctx, b.s, ann))
}

// Two members racing for one booking uid: only the unique index stops the
// second debit, since they hold different locks.
func testConcurrentSameUIDMembers(t *testing.T, open Opener) {
	b := setup(t, open)
	emails := []string{"ann@example.com", "bob@example.com"}
	for _, e := range emails {
		b.grant(t, e, 5, 0)
	}
	outs := race(20, func(i int) debitOutcome {
		res, err := b.s.Debit(b.ctx, credits.Debit{Email: emails[i%2], BookingUID: "uid-1", Amount: 1})
		return debitOutcome{res, err}
	})
	charged := 0
	for _, o := range outs {
		require.NoError(t, o.err)
		if !o.res.Already {
			charged++
		}
	}
	require.Equal(t, 1, charged)
	total := requireConsistent(t, b.ctx, b.s, emails[0]) + requireConsistent(t, b.ctx, b.s, emails[1])
	require.Equal(t, int64(9), total)
}

func testConcurrentRefund(t *testing.T, open Opener) {
	b := setup(t, open)
	const ann = "ann@example.com"
	b.grant(t, ann, 5, 0)
	b.debit(t, ann, "uid-1", 3)
	errs := race(10, func(int) error {
		_, err := b.s.Refund(b.ctx, "uid-1", "")
		return err
	})
	refunded := 0
	for _, err := range errs {
		if err == nil {
			refunded++
			continue
		}
		require.ErrorIs(t, err, credits.ErrNotFound)
	}
	require.Equal(t, 1, refunded)
	require.Equal(t, int64(5), requireConsistent(t, b.ctx, b.s, ann))
}

func testConcurrentGrantRef(t *testing.T, open Opener) {
	b := setup(t, open)
	emails := []string{"ann@example.com", "bob@example.com"}
	outs := race(10, func(i int) error {
		_, err := b.s.Grant(b.ctx, emails[i%2], 4, credits.GrantOptions{Ref: "import:7"})
		return err
	})
	for _, err := range outs {
		require.NoError(t, err)
	}
	total := requireConsistent(t, b.ctx, b.s, emails[0]) + requireConsistent(t, b.ctx, b.s, emails[1])
	require.Equal(t, int64(4), total)
}
