package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/worker"
	"github.com/creditgate/creditgate/worker/workertest"
)

const adminToken = "admin-token-never-logged"

func get(t *testing.T, url string, auth func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	off := setup(t, "sqlite", nil)
	code, _ := get(t, off.base+"/admin/queues", bearer(adminToken))
	require.Equal(t, http.StatusNotFound, code, "admin routes are off without a token")
	code, _ = get(t, off.base+"/admin/api/dead-letters", bearer(adminToken))
	require.Equal(t, http.StatusNotFound, code)

	on := setup(t, "sqlite", map[string]string{"CREDITGATE_ADMIN_TOKEN": adminToken})
	tests := []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong bearer", bearer("nope"), http.StatusUnauthorized},
		{"wrong basic", func(r *http.Request) { r.SetBasicAuth("admin", "nope") }, http.StatusUnauthorized},
		{"bearer", bearer(adminToken), http.StatusOK},
		{"basic (a browser)", func(r *http.Request) { r.SetBasicAuth("admin", adminToken) }, http.StatusOK},
	}
	for _, tt := range tests {
		for _, path := range []string{"/admin/queues", "/admin/api/dead-letters"} {
			code, _ := get(t, on.base+path, tt.auth)
			require.Equal(t, tt.want, code, "%s %s", tt.name, path)
		}
	}
	code, body := get(t, on.base+"/admin/queues/api/queues", bearer(adminToken))
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, on.stderr.String(), adminToken)
}

func TestAdminReadOnlyRefusesReplay(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", map[string]string{"CREDITGATE_ADMIN_TOKEN": adminToken, "CREDITGATE_ADMIN_READONLY": "true"})
	req, err := http.NewRequest(http.MethodPost, b.base+"/admin/api/dead-letters/x/replay", nil)
	require.NoError(t, err)
	bearer(adminToken)(req)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestMetricsCountWebhooksDecisionsAndCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", nil)
	b.grant(t, "ada@example.com", 1)
	bk := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)
	require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))
	b.decided(t, bk.UID)
	code, body := get(t, b.base+"/metrics", nil)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`creditgate_webhooks_total{outcome="queued",trigger="BOOKING_REQUESTED"} 1`,
		`creditgate_decisions_total{outcome="confirmed",trigger="BOOKING_REQUESTED"} 1`,
		`creditgate_calcom_calls_total{method="POST",route="/v2/bookings/{id}/confirm",status="200"} 1`,
		`creditgate_calcom_calls_total{method="GET",route="/v2/bookings/{id}",status="200"} 1`,
		`creditgate_queue_tasks{state="completed"} 1`,
		`creditgate_decision_latency_seconds_count 1`,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, bk.UID, "booking uids are not metric labels")
}

func TestPermanentFailureIsDeadLetteredAndReplayDecidesIt(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			redisURL := "" // set below: the CLI needs the same Redis as serve
			b, vars := setupWithVars(t, backend, map[string]string{"CREDITGATE_ADMIN_TOKEN": adminToken})
			redisURL = vars["REDIS_URL"]
			b.grant(t, "ada@example.com", 2)
			bk := b.booking(uidFor(t, 1), "ada@example.com", 77, calapi.StatusPending)
			// Cal.com refuses our key: permanent, no retry can help.
			b.fake.FailNext(1, http.MethodPost, "/confirm", http.StatusForbidden, "ForbiddenException", "key lacks bookings scope")
			require.Equal(t, http.StatusAccepted, b.post(t, calapi.TriggerBookingRequested, bk, nil))

			id := fmt.Sprintf("%s:%s", calapi.TriggerBookingRequested, bk.UID)
			waitFor(t, 15*time.Second, func() bool {
				_, out, _ := cli(t, vars["DATABASE_URL"], "dlq", "list", "--json")
				return strings.Contains(out, id)
			}, "dead letter listed")
			code, out, _ := cli(t, vars["DATABASE_URL"], "dlq", "show", id)
			require.Equal(t, 0, code)
			require.Contains(t, out, "key lacks bookings scope")
			require.Contains(t, out, `"uid": "`+bk.UID+`"`)
			require.NotContains(t, out, testAPIKey)
			require.EqualValues(t, 2, b.balance(t, "ada@example.com"), "a debit that can no longer be used is given back")
			require.Equal(t, calapi.StatusPending, b.status(bk.UID))

			// Still in asynq's archive too, visible on the dashboard.
			in := inspectorFor(t, redisURL)
			info, err := in.GetTaskInfo("bookings", id)
			require.NoError(t, err)
			require.Equal(t, asynq.TaskStateArchived, info.State)

			// The key is fixed; replay decides it, and a second replay is safe.
			code, out, errOut := cliEnv(t, map[string]string{"DATABASE_URL": vars["DATABASE_URL"], "REDIS_URL": redisURL}, "dlq", "replay", id)
			require.Equal(t, 0, code, out+errOut)
			waitFor(t, 15*time.Second, func() bool { return b.status(bk.UID) == calapi.StatusAccepted }, "replayed booking confirmed")
			require.EqualValues(t, 1, b.balance(t, "ada@example.com"))
			_, out, _ = cli(t, vars["DATABASE_URL"], "dlq", "list", "--json")
			require.NotContains(t, out, id, "a replayed dead letter leaves the waiting list")
			_, out, _ = cli(t, vars["DATABASE_URL"], "dlq", "list", "--all", "--json")
			require.Contains(t, out, id)
		})
	}
}

func inspectorFor(t *testing.T, redisURL string) *asynq.Inspector {
	t.Helper()
	opt, err := asynq.ParseRedisURI(redisURL)
	require.NoError(t, err)
	in := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = in.Close() })
	return in
}

func TestFinalAttempt(t *testing.T) {
	t.Parallel()
	limited := &calapi.APIError{Status: http.StatusTooManyRequests}
	require.True(t, finalAttempt(0, 20, fmt.Errorf("x: %w", asynq.SkipRetry)))
	require.False(t, finalAttempt(3, 20, io.ErrUnexpectedEOF))
	require.True(t, finalAttempt(20, 20, io.ErrUnexpectedEOF))
	require.False(t, finalAttempt(20, 20, limited), "rate limiting is never a final failure")
}

func TestDeadLettersOnlyInAsynqArchiveAreListedAndReplayed(t *testing.T) {
	t.Parallel()
	redisURL, db := workertest.RedisURL(t), dbURL(t, "sqlite")
	opt, err := asynq.ParseRedisURI(redisURL)
	require.NoError(t, err)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	task, err := worker.NewBookingTask(worker.BookingTask{Trigger: calapi.TriggerBookingRequested, UID: "archived-only"})
	require.NoError(t, err)
	info, err := client.Enqueue(task)
	require.NoError(t, err)
	in := inspectorFor(t, redisURL)
	// Archived while the database was down: no copy was kept.
	require.NoError(t, in.ArchiveTask(worker.Queue, info.ID))
	vars := map[string]string{"DATABASE_URL": db, "REDIS_URL": redisURL}

	code, out, errOut := cliEnv(t, vars, "dlq", "list")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, info.ID)
	require.Contains(t, out, "only in asynq's archive")
	code, out, _ = cli(t, db, "dlq", "list")
	require.Equal(t, 0, code)
	require.NotContains(t, out, info.ID, "without Redis only the database copies are known")

	code, out, errOut = cliEnv(t, vars, "dlq", "replay", "--all")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "no database copy")
	got, err := in.GetTaskInfo(worker.Queue, info.ID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, got.State)
}
