package worker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/creditgate/creditgate/calapi"
)

// DefaultRateLimitDelay is how long a task waits after a 429 that did not
// say when to come back.
const DefaultRateLimitDelay = 60 * time.Second

// callError wraps a Cal.com error once; a permanent one (401, 403, 404,
// other 4xx) also wraps asynq.SkipRetry so the task goes straight to the
// dead letters with that reason.
func callError(op string, err error) error {
	var apiErr *calapi.APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		return fmt.Errorf("%s: %w (permanent: %w)", op, err, asynq.SkipRetry)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func permanent(err error) bool { return errors.Is(err, asynq.SkipRetry) }

func rateLimited(err error) (*calapi.APIError, bool) {
	var apiErr *calapi.APIError
	if errors.As(err, &apiErr) && apiErr.RateLimited() {
		return apiErr, true
	}
	return nil, false
}

// RetryDelay is the asynq RetryDelayFunc: a rate-limited call waits as long
// as Cal.com asked (60 s when it did not say), other failures back off
// exponentially.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if apiErr, ok := rateLimited(err); ok {
		d := apiErr.RetryAfter
		if d <= 0 {
			d = DefaultRateLimitDelay
		}
		// A little jitter so the workers that hit the limit together do
		// not come back together.
		return d + time.Duration(rand.Int64N(int64(time.Second)))
	}
	if errors.Is(err, asynq.ErrLeaseExpired) {
		// A worker died holding the task; asynq noticed late already
		// (about a minute), so run it again at once.
		return time.Second
	}
	return Backoff(n)
}

// Backoff is the delay before retry n+1 of a failed decision: 1 s doubling
// to at most 10 minutes, plus up to a quarter more at random. A booker may
// be waiting on the page, so the first retries come quickly (asynq's own
// default waits 15 to 45 s before the first); MaxRetry of them span about
// two hours, and the booking's start ends them sooner.
func Backoff(n int) time.Duration {
	d := maxBackoff
	if n < 10 {
		d = min(maxBackoff, time.Second<<n)
	}
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

const maxBackoff = 10 * time.Minute

// IsFailure is the asynq IsFailure func: being rate limited is not a
// failed attempt and does not spend the retry budget.
func IsFailure(err error) bool {
	_, limited := rateLimited(err)
	return !limited
}
