package calapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Limiter is a budget of calls shared with other clients, such as
// calapi/ratelimit's, kept in Redis for every worker process. Allow takes
// one call from the budget, or says how long to wait before one is free.
// An error means the budget cannot be read (Redis is down): the call does
// not go out.
type Limiter interface {
	Allow(ctx context.Context) (wait time.Duration, err error)
}

// LocalRateLimit is the APIError.Code of a call that creditgate's own
// Limiter held back: it never reached Cal.com.
const LocalRateLimit = "local_rate_limit"

// errLimited marks an attempt the Limiter stopped, so that it is neither
// retried at once nor mistaken for a network error.
var errLimited = errors.New("held by the rate limiter")

// limitWait is an attempt the Limiter held back for wait.
type limitWait struct{ wait time.Duration }

func (e *limitWait) Error() string { return fmt.Sprintf("%v for %s", errLimited, e.wait) }
func (e *limitWait) Unwrap() error { return errLimited }

// limitedTransport asks the Limiter before every attempt. It sits under
// retryablehttp, so a retry of a 5xx spends the budget too.
type limitedTransport struct {
	limiter Limiter
	next    http.RoundTripper
}

// maxInlineWait is how long an attempt waits in place for the budget.
// Short waits are the common case under a steady load (one call every
// 0.6 s at 100 a minute), and waiting in place is far cheaper than a trip
// through the queue's retry schedule; longer waits hand the task back to
// the queue with the delay, freeing the worker.
const maxInlineWait = 2 * time.Second

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	deadline := time.Now().Add(maxInlineWait)
	for {
		wait, err := t.limiter.Allow(ctx)
		if err != nil {
			closeBody(req)
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("%w: rate limiter unavailable: %w", errLimited, err)
		}
		if wait <= 0 {
			return t.next.RoundTrip(req)
		}
		if time.Now().Add(wait).After(deadline) {
			closeBody(req)
			return nil, &limitWait{wait: wait}
		}
		// A little jitter so that callers told the same time do not all
		// come back at once.
		timer := time.NewTimer(wait + time.Duration(rand.Int64N(int64(wait)/4+1)))
		select {
		case <-ctx.Done():
			timer.Stop()
			closeBody(req)
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// closeBody honours RoundTrip's contract to close the body it does not send.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// limitError turns an attempt the Limiter held back into the answer Cal.com
// would have given, a 429 with a delay, so that callers treat both alike;
// nil for any other error. A Limiter that failed is a *RequestError, which
// is temporary.
func limitError(err error, method, path string) error {
	if !errors.Is(err, errLimited) {
		return nil
	}
	var w *limitWait
	if errors.As(err, &w) {
		return &APIError{
			Status:     http.StatusTooManyRequests,
			Code:       LocalRateLimit,
			Message:    "creditgate's shared budget of Cal.com calls is spent",
			Method:     method,
			Path:       path,
			RetryAfter: w.wait,
		}
	}
	return &RequestError{Method: method, Path: path, Err: unwrapURLError(err)}
}
