package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/credits"
)

// waitDecision waits until the booking's recorded decision is want.
func (b *testBundle) waitDecision(t *testing.T, uid, want string) credits.Booking {
	t.Helper()
	var rec credits.Booking
	waitFor(t, 15*time.Second, func() bool {
		r, err := b.ledger.GetBooking(context.Background(), uid)
		rec = r
		return err == nil && r.Decision == want
	}, uid+" "+want)
	return rec
}

// bookingAt adds a booking starting at start.
func (b *testBundle) bookingAt(uid, email string, eventType int64, status string, start time.Time) calapi.Booking {
	bk := calapi.Booking{UID: uid, ID: start.Unix() % 1e6, Status: status, EventTypeID: eventType,
		AttendeeEmail: email, Start: start.UTC().Truncate(time.Minute), End: start.Add(time.Hour)}
	b.fake.AddBooking(bk)
	return bk
}

func TestServeCreditRulesThroughWebhooks(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setup(t, backend, nil)
			ctx := context.Background()
			const ada = "ada@example.com"
			b.grant(t, ada, 3)
			require.NoError(t, b.ledger.SetPrice(ctx, 9, 0))
			soon, later := time.Now().Add(2*time.Hour), time.Now().Add(72*time.Hour)
			post := func(trigger string, bk calapi.Booking, extra map[string]any) {
				t.Helper()
				require.Equal(t, http.StatusAccepted, b.post(t, trigger, bk, extra))
			}

			// Book, then reschedule twice (both forms): one charge throughout.
			a := b.bookingAt(uidFor(t, 1), ada, 77, calapi.StatusPending, soon)
			post(calapi.TriggerBookingRequested, a, nil)
			b.waitDecision(t, a.UID, "confirmed")
			require.EqualValues(t, 2, b.balance(t, ada))
			r1 := b.bookingAt(uidFor(t, 2), ada, 77, calapi.StatusPending, soon)
			post(calapi.TriggerBookingRequested, r1, map[string]any{"rescheduleUid": a.UID})
			b.waitDecision(t, r1.UID, "confirmed")
			require.Equal(t, calapi.StatusAccepted, b.status(r1.UID))
			r2 := b.bookingAt(uidFor(t, 3), ada, 77, calapi.StatusAccepted, soon)
			post(calapi.TriggerBookingRescheduled, r2, map[string]any{"rescheduleUid": r1.UID})
			b.waitDecision(t, r2.UID, "moved")
			require.EqualValues(t, 2, b.balance(t, ada), "a reschedule is neither a second charge nor free")

			// The booker cancels two hours ahead: inside the 24h window, forfeit.
			r2.Status = calapi.StatusCancelled
			post(calapi.TriggerBookingCancelled, r2, map[string]any{"cancelledBy": ada})
			b.waitDecision(t, r2.UID, "forfeited")
			require.EqualValues(t, 2, b.balance(t, ada))

			// The booker cancels three days ahead: refund.
			c := b.bookingAt(uidFor(t, 4), ada, 77, calapi.StatusPending, later)
			post(calapi.TriggerBookingRequested, c, nil)
			b.waitDecision(t, c.UID, "confirmed")
			require.EqualValues(t, 1, b.balance(t, ada))
			c.Status = calapi.StatusCancelled
			post(calapi.TriggerBookingCancelled, c, map[string]any{"cancelledBy": ada})
			b.waitDecision(t, c.UID, "refunded")
			require.EqualValues(t, 2, b.balance(t, ada))

			// The host cancels two hours ahead: always a refund.
			d := b.bookingAt(uidFor(t, 5), ada, 77, calapi.StatusPending, soon)
			post(calapi.TriggerBookingRequested, d, nil)
			b.waitDecision(t, d.UID, "confirmed")
			d.Status = calapi.StatusCancelled
			post(calapi.TriggerBookingCancelled, d, map[string]any{"cancelledBy": "host@bookclub.example"})
			b.waitDecision(t, d.UID, "refunded")
			require.EqualValues(t, 2, b.balance(t, ada))

			// The host rejects a booking that was debited (an override's echo).
			e := b.bookingAt(uidFor(t, 6), ada, 77, calapi.StatusPending, soon)
			post(calapi.TriggerBookingRequested, e, nil)
			b.waitDecision(t, e.UID, "confirmed")
			e.Status = calapi.StatusRejected
			post(calapi.TriggerBookingRejected, e, nil)
			b.waitDecision(t, e.UID, "refunded")
			require.EqualValues(t, 2, b.balance(t, ada))

			// A free event type: confirmed, no entry.
			f := b.bookingAt(uidFor(t, 7), ada, 9, calapi.StatusPending, later)
			post(calapi.TriggerBookingRequested, f, nil)
			b.waitDecision(t, f.UID, "confirmed")
			require.EqualValues(t, 2, b.balance(t, ada))

			kinds := map[credits.Kind]int{}
			h, err := b.ledger.History(ctx, ada)
			require.NoError(t, err)
			var sum int64
			for _, en := range h {
				kinds[en.Kind]++
				sum += en.Amount
				require.NotEmpty(t, en.Note, "every entry has its reason")
			}
			require.EqualValues(t, 2, sum, "the balance is the sum of the entries")
			require.Equal(t, 1, kinds[credits.KindGrant])
			require.Equal(t, 4, kinds[credits.KindDebit])
			require.Equal(t, 3, kinds[credits.KindRefund])
			require.Equal(t, 1, kinds[credits.KindForfeit])
			require.GreaterOrEqual(t, kinds[credits.KindTransfer], 2)
		})
	}
}
