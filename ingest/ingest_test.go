package ingest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/ingest"
	"github.com/creditgate/creditgate/worker"
	"github.com/creditgate/creditgate/worker/workertest"
)

const secret = "whsec-test"

type testBundle struct {
	handler   http.Handler
	inspector *asynq.Inspector
	rdb       *redis.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	opt, err := redis.ParseURL(workertest.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = client.Close(); _ = rdb.Close() })
	h := ingest.NewServer(ingest.Config{
		Secret: secret, Enqueuer: client,
		Ready: []ingest.Checker{{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}},
	})
	return &testBundle{handler: h, inspector: asynq.NewInspectorFromRedisClient(rdb), rdb: rdb}
}

// queued counts the tasks waiting in the bookings queue.
func (b *testBundle) queued(t *testing.T) int {
	t.Helper()
	info, err := b.inspector.GetQueueInfo(worker.Queue)
	if err != nil {
		return 0 // the queue does not exist until something is enqueued
	}
	return info.Pending + info.Scheduled + info.Active + info.Completed
}

func do(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/calcom", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(calapi.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func requested(uid string) []byte {
	return calapitest.WebhookBody(calapi.TriggerBookingRequested, calapi.Booking{
		UID: uid, ID: 42, Status: calapi.StatusPending, EventTypeID: 7, AttendeeEmail: "ada@example.com",
	}, nil)
}

func TestWebhookRejectsBadInputAndQueuesNothing(t *testing.T) {
	t.Parallel()
	good := requested("bk-1")
	big := append([]byte(`{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"x","pad":"`),
		bytes.Repeat([]byte("a"), ingest.MaxBodyBytes)...)
	big = append(big, []byte(`"}}`)...)
	tests := []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"no signature", good, "", http.StatusUnauthorized},
		{"wrong secret", good, calapi.Sign("other-secret", good), http.StatusUnauthorized},
		{"no-secret-provided", good, calapi.NoSecretProvided, http.StatusUnauthorized},
		{"malformed signature", good, "zz-not-hex", http.StatusUnauthorized},
		{"signature of another body", good, calapi.Sign(secret, requested("bk-2")), http.StatusUnauthorized},
		{"not json", []byte("hello"), calapi.Sign(secret, []byte("hello")), http.StatusBadRequest},
		{"json array", []byte(`[1,2]`), calapi.Sign(secret, []byte(`[1,2]`)), http.StatusBadRequest},
		{"no trigger", []byte(`{"payload":{"uid":"a"}}`), calapi.Sign(secret, []byte(`{"payload":{"uid":"a"}}`)), http.StatusBadRequest},
		{"no uid", []byte(`{"triggerEvent":"BOOKING_REQUESTED","payload":{}}`),
			calapi.Sign(secret, []byte(`{"triggerEvent":"BOOKING_REQUESTED","payload":{}}`)), http.StatusBadRequest},
		{"over 1 MiB", big, calapi.Sign(secret, big), http.StatusRequestEntityTooLarge},
		{"ping", []byte(`{"triggerEvent":"PING","createdAt":"2026-12-03T10:00:00Z","payload":{}}`),
			calapi.Sign(secret, []byte(`{"triggerEvent":"PING","createdAt":"2026-12-03T10:00:00Z","payload":{}}`)), http.StatusOK},
		{"ignored trigger", []byte(`{"triggerEvent":"MEETING_ENDED","payload":{"uid":"m"}}`),
			calapi.Sign(secret, []byte(`{"triggerEvent":"MEETING_ENDED","payload":{"uid":"m"}}`)), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := do(b.handler, tt.body, tt.sig)
			require.Equal(t, tt.want, rec.Code, rec.Body.String())
			require.Equal(t, 0, b.queued(t), "a rejected or ignored webhook was queued")
			require.NotContains(t, rec.Body.String(), secret)
		})
	}
}

func TestWebhookQueuesOnceAndAnswersDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := requested("bk-dup")
	rec := do(b.handler, body, calapi.Sign(secret, body))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"queued"`)
	require.Equal(t, 1, b.queued(t))

	// Cal.com re-sends: 2xx, and nothing more is queued.
	for range 3 {
		rec = do(b.handler, body, calapi.Sign(secret, body))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), `"duplicate"`)
	}
	require.Equal(t, 1, b.queued(t))

	info, err := b.inspector.GetTaskInfo(worker.Queue, worker.TaskID(calapi.TriggerBookingRequested, "bk-dup"))
	require.NoError(t, err)
	require.Equal(t, worker.TypeBookingRequested, info.Type)
	require.GreaterOrEqual(t, info.Retention, 24*time.Hour)
}

func TestWebhookAnswers503WhenQueueIsDown(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = client.Close(); _ = rdb.Close() })
	h := ingest.NewServer(ingest.Config{Secret: secret, Enqueuer: client,
		Ready: []ingest.Checker{{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}}})
	addr := m.Addr()
	m.Close()

	body := requested("bk-down")
	rec := do(h, body, calapi.Sign(secret, body))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.NotContains(t, rec.Body.String(), addr, "internal errors must not reach the caller")

	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	require.Equal(t, http.StatusServiceUnavailable, rr.Code)
	require.True(t, strings.Contains(rr.Body.String(), `"redis":"unavailable"`), rr.Body.String())

	req = httptest.NewRequest(http.MethodGet, "/healthz", nil)
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	require.Equal(t, http.StatusOK, rr.Code)
}

func TestReadyzWhenRedisIsUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	rr := httptest.NewRecorder()
	b.handler.ServeHTTP(rr, req)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
}
