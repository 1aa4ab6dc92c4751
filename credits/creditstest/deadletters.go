package creditstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

const deadID = "BOOKING_REQUESTED:uid-1"

func testDeadLetters(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.GetDeadLetter(b.ctx, deadID)
	require.ErrorIs(t, err, credits.ErrNotFound)
	require.ErrorIs(t, b.s.MarkReplayed(b.ctx, deadID, b.clock.Now()), credits.ErrNotFound)
	ds, err := b.s.DeadLetters(b.ctx, false)
	require.NoError(t, err)
	require.NotNil(t, ds, "an empty list, not nil")
	require.Empty(t, ds)

	for _, tc := range []struct {
		name string
		d    credits.DeadLetter
	}{
		{"empty id", credits.DeadLetter{Type: "booking:requested"}},
		{"negative retried", credits.DeadLetter{ID: deadID, Retried: -1}},
	} {
		require.ErrorIs(t, b.s.SaveDeadLetter(b.ctx, tc.d), credits.ErrInvalid, tc.name)
	}
	ds, err = b.s.DeadLetters(b.ctx, false)
	require.NoError(t, err)
	require.Empty(t, ds, "a refused save writes nothing")

	// The first save records what it is given, but not replays it has not
	// seen; FailedAt comes back in UTC at microseconds.
	paris := time.FixedZone("CET", 3600)
	failed := b.clock.Now().Add(-time.Minute).In(paris).Add(123 * time.Nanosecond)
	in := credits.DeadLetter{ID: deadID, Queue: "default", Type: "booking:requested",
		Payload: []byte(`{"uid":"uid-1"}`), BookingUID: "uid-1", Error: "calapi: 503 Service Unavailable",
		Retried: 25, FailedAt: failed, ReplayedAt: b.clock.at(0), Replays: 7}
	require.NoError(t, b.s.SaveDeadLetter(b.ctx, in))
	want := in
	want.FailedAt = b.clock.Now().Add(-time.Minute)
	want.ReplayedAt, want.Replays = nil, 0
	requireDeadLetter(t, b, want)

	// Replays are counted; a zero time means now.
	b.clock.Advance(time.Hour)
	require.NoError(t, b.s.MarkReplayed(b.ctx, deadID, b.clock.Now().In(paris)))
	want.ReplayedAt, want.Replays = b.clock.at(0), 1
	requireDeadLetter(t, b, want)
	b.clock.Advance(time.Hour)
	require.NoError(t, b.s.MarkReplayed(b.ctx, deadID, time.Time{}))
	want.ReplayedAt, want.Replays = b.clock.at(0), 2
	requireDeadLetter(t, b, want)

	// Dying again updates the failure and waits again; the task, and the
	// count of its replays, stay as they were.
	b.clock.Advance(time.Hour)
	again := credits.DeadLetter{ID: deadID, Queue: "critical", Type: "booking:other", Payload: []byte(`{}`),
		BookingUID: "uid-9", Error: "calapi: 400 booking not found", Retried: 3, Replays: 0}
	require.NoError(t, b.s.SaveDeadLetter(b.ctx, again))
	want.Error, want.Retried, want.FailedAt = again.Error, again.Retried, b.clock.Now()
	want.ReplayedAt = nil
	requireDeadLetter(t, b, want)
}

// requireDeadLetter checks want is stored, alone, and listed as pending
// exactly when it has not been replayed.
func requireDeadLetter(t *testing.T, b *bundle, want credits.DeadLetter) {
	t.Helper()
	got, err := b.s.GetDeadLetter(b.ctx, want.ID)
	require.NoError(t, err)
	require.Equal(t, want, got)
	all, err := b.s.DeadLetters(b.ctx, false)
	require.NoError(t, err)
	require.Equal(t, []credits.DeadLetter{want}, all)
	pending, err := b.s.DeadLetters(b.ctx, true)
	require.NoError(t, err)
	if want.ReplayedAt == nil {
		require.Equal(t, []credits.DeadLetter{want}, pending)
	} else {
		require.Empty(t, pending)
	}
}

func testDeadLetterList(t *testing.T, open Opener) {
	b := setup(t, open)
	t0 := b.clock.Now()
	save := func(id string, failedAt time.Time) {
		t.Helper()
		require.NoError(t, b.s.SaveDeadLetter(b.ctx, credits.DeadLetter{ID: id, Queue: "default",
			Type: "booking:requested", Error: "boom", FailedAt: failedAt}))
	}
	list := func(pending bool) []string {
		t.Helper()
		ds, err := b.s.DeadLetters(b.ctx, pending)
		require.NoError(t, err)
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		return ids
	}
	save("b", t0.Add(2*time.Hour))
	save("c", t0.Add(time.Hour))
	save("a", t0.Add(3*time.Hour))
	save("d", t0.Add(2*time.Hour)) // a tie with b: by id
	require.Equal(t, []string{"a", "b", "d", "c"}, list(false), "newest failure first")
	require.Equal(t, []string{"a", "b", "d", "c"}, list(true))

	require.NoError(t, b.s.MarkReplayed(b.ctx, "b", t0.Add(4*time.Hour)))
	require.NoError(t, b.s.MarkReplayed(b.ctx, "c", t0.Add(4*time.Hour)))
	require.Equal(t, []string{"a", "b", "d", "c"}, list(false), "replayed ones are still listed")
	require.Equal(t, []string{"a", "d"}, list(true))

	save("c", t0.Add(5*time.Hour)) // the replay of c died too
	require.Equal(t, []string{"c", "a", "b", "d"}, list(false))
	require.Equal(t, []string{"c", "a", "d"}, list(true))
}

func testDeadLetterPayload(t *testing.T, open Opener) {
	b := setup(t, open)
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	large := make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(i*7 + i>>8)
	}
	cases := []struct {
		name    string
		payload []byte
	}{
		{"json", []byte(`{"uid":"uid-1","trigger":"BOOKING_REQUESTED"}`)},
		{"json as written", []byte("{ \"b\": 1,\n  \"a\": \"caf\\u00e9 é\" }\n")},
		{"nul bytes", []byte("a\x00b\x00")},
		{"not utf-8", []byte{0xff, 0xfe, 0xc3, 0x28, 0x80}},
		{"every byte", every},
		{"a bytea literal", []byte(`\x4142`)},
		{"a blob literal", []byte(`x'00'`)},
		{"large", large},
		{"empty", []byte{}},
		{"nil", nil},
	}
	for _, tc := range cases {
		require.NoError(t, b.s.SaveDeadLetter(b.ctx, credits.DeadLetter{ID: tc.name, Payload: tc.payload}), tc.name)
	}
	ds, err := b.s.DeadLetters(b.ctx, false)
	require.NoError(t, err)
	listed := map[string][]byte{}
	for _, d := range ds {
		listed[d.ID] = d.Payload
	}
	for _, tc := range cases {
		got, err := b.s.GetDeadLetter(b.ctx, tc.name)
		require.NoError(t, err, tc.name)
		if len(tc.payload) == 0 {
			require.Nil(t, got.Payload, "%s: an empty payload reads back as nil", tc.name)
			require.Nil(t, listed[tc.name], tc.name)
			continue
		}
		require.Equal(t, tc.payload, got.Payload, tc.name) // bytes.Equal
		require.Equal(t, tc.payload, listed[tc.name], tc.name)
	}
}

// Many workers reporting the same task at once (a duplicate delivery, a
// retried save) leave one record, written whole by one of them; replays
// racing with those saves are all counted.
func testConcurrentDeadLetters(t *testing.T, open Opener) {
	b := setup(t, open)
	const n = 20
	t0 := b.clock.Now()
	saveErrs := race(n, func(i int) error {
		return b.s.SaveDeadLetter(b.ctx, credits.DeadLetter{ID: deadID, Queue: "default",
			Type: "booking:requested", Payload: fmt.Appendf(nil, `{"i":%d}`, i), BookingUID: fmt.Sprintf("uid-%d", i),
			Error: fmt.Sprintf("error %d", i), Retried: i, FailedAt: t0.Add(time.Duration(i) * time.Second)})
	})
	for _, err := range saveErrs {
		require.NoError(t, err)
	}
	ds, err := b.s.DeadLetters(b.ctx, false)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	d := ds[0]
	requireWhole(t, d, t0)
	require.Nil(t, d.ReplayedAt)
	require.Zero(t, d.Replays)

	// Saves and replays interleaved: no replay is lost, no save torn.
	errs := race(2*n, func(i int) error {
		if i%2 == 0 {
			return b.s.MarkReplayed(b.ctx, deadID, t0.Add(time.Hour))
		}
		return b.s.SaveDeadLetter(b.ctx, credits.DeadLetter{ID: deadID, Queue: "default",
			Type: "booking:requested", Error: fmt.Sprintf("error %d", i), Retried: i,
			FailedAt: t0.Add(time.Duration(i) * time.Second)})
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	got, err := b.s.GetDeadLetter(b.ctx, deadID)
	require.NoError(t, err)
	require.Equal(t, n, got.Replays)
	requireWhole(t, got, t0)
	require.Equal(t, d.Payload, got.Payload, "the task stays as first saved")
	require.Equal(t, d.BookingUID, got.BookingUID)
	pending, err := b.s.DeadLetters(b.ctx, true)
	require.NoError(t, err)
	require.Equal(t, got.ReplayedAt == nil, len(pending) == 1)
}

// requireWhole checks that the failure of d came from one save, not parts
// of several, and that its task fields agree with one another.
func requireWhole(t *testing.T, d credits.DeadLetter, t0 time.Time) {
	t.Helper()
	require.Equal(t, fmt.Sprintf("error %d", d.Retried), d.Error)
	require.Equal(t, t0.Add(time.Duration(d.Retried)*time.Second), d.FailedAt)
	var i int
	_, err := fmt.Sscanf(d.BookingUID, "uid-%d", &i)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf(`{"i":%d}`, i), string(d.Payload))
}
