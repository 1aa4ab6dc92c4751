// Package credits is creditgate's ledger: members' credit, the append-only
// entries that move it, the price of each Cal.com event type, and the record
// of what was decided for each booking; beside it, the booking tasks that
// ran out of retries (dead letters), kept longer than the queue keeps them.
//
// Two backends implement Store: SQLite (embedded, the default) and
// PostgreSQL. Open picks one from a URL. Both pass the same conformance suite
// (credits/creditstest), so the money rules below hold on either:
//
//   - a booking uid is debited at most once while its debit is live;
//   - a balance never goes below zero;
//   - every movement is an Entry, never updated or deleted, with its reason.
package credits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Store implementations. Callers test them with errors.Is;
// backends translate their drivers' errors into these.
var (
	// ErrInsufficient: the member's spendable balance is below the amount.
	// The error is an *InsufficientError carrying the balance.
	ErrInsufficient = errors.New("insufficient credit")
	// ErrNotFound: no such booking, debit, entry or dead letter.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: an argument is out of range (non-positive grant, empty
	// email, negative price...).
	ErrInvalid = errors.New("invalid argument")
	// ErrSchemaTooNew: the database was migrated by a newer creditgate than
	// this one; running on would risk misreading it, so the backend refuses.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// InsufficientError reports a debit refused for lack of credit.
type InsufficientError struct {
	Email   string
	Balance int64
	Cost    int64
}

func (e *InsufficientError) Error() string {
	return fmt.Sprintf("insufficient credit: %s has %d, needs %d", e.Email, e.Balance, e.Cost)
}

// Is makes errors.Is(err, ErrInsufficient) true.
func (e *InsufficientError) Is(target error) bool { return target == ErrInsufficient }

// Kind names what an Entry did to a balance.
type Kind string

// Entry kinds.
const (
	KindGrant    Kind = "grant"    // credit added (positive)
	KindDebit    Kind = "debit"    // a booking paid (negative)
	KindRefund   Kind = "refund"   // a debit given back (positive)
	KindForfeit  Kind = "forfeit"  // a late cancellation kept the debit (zero amount, recorded)
	KindExpire   Kind = "expire"   // unspent credit of an expired grant (negative)
	KindAdjust   Kind = "adjust"   // an admin correction (either sign)
	KindTransfer Kind = "transfer" // a debit moved from one booking uid to another (zero amount)
	KindOverride Kind = "override" // admitted by the host without credit (zero amount, recorded)
)

// Entry is one append-only ledger line.
type Entry struct {
	ID           int64
	Email        string // canonical member email
	Kind         Kind
	Amount       int64 // signed change to the balance
	BalanceAfter int64
	BookingUID   string
	Note         string
	ExpiresAt    *time.Time // grants only
	CreatedAt    time.Time
}

// GrantOptions are the optional parts of a grant.
type GrantOptions struct {
	ExpiresAt *time.Time
	Note      string
	// Ref, when set, makes the grant idempotent: a second grant with the
	// same Ref is a no-op returning the first entry (used by CSV import).
	Ref string
}

// Debit asks to charge a booking.
type Debit struct {
	Email      string
	BookingUID string
	Amount     int64
	Note       string
}

// DebitResult says what a Debit did.
type DebitResult struct {
	Entry Entry
	// Already is true when the booking uid had a live debit: nothing was
	// charged and Entry is that earlier debit.
	Already bool
	Balance int64
}

// Booking is creditgate's record of one Cal.com booking and its decision.
type Booking struct {
	UID         string
	Email       string
	EventTypeID int64
	Cost        int64
	// SeenPending: creditgate saw the booking pending at Cal.com, so an
	// ACCEPTED that it did not confirm itself was the host's own hand.
	SeenPending bool
	Decision    string // "", confirmed, declined, cancelled, override, refunded...
	Reason      string
	StartTime   *time.Time
	UpdatedAt   time.Time
}

// Price is the cost of one Cal.com event type.
type Price struct {
	EventTypeID int64
	Cost        int64
	UpdatedAt   time.Time
}

// DeadLetter is a booking task that ran out of retries (or failed
// permanently). asynq drops archived tasks beyond 10,000 per queue or 90
// days, so every dead letter is copied into the ledger's database. Dead
// letters are operational records, not ledger entries: they are updated.
type DeadLetter struct {
	ID         string // the asynq task id (e.g. "BOOKING_REQUESTED:uid")
	Queue      string
	Type       string // asynq task type
	Payload    []byte // the task payload, as enqueued (JSON); nil when empty
	BookingUID string
	Error      string // the last error, already free of secrets
	Retried    int
	FailedAt   time.Time
	ReplayedAt *time.Time // set by MarkReplayed; nil while waiting
	Replays    int
}

// Store is the ledger. Every method is safe for concurrent use by any number
// of goroutines and processes sharing the database.
type Store interface {
	// Grant adds credit. ErrInvalid for amount <= 0 or an empty email.
	Grant(ctx context.Context, email string, amount int64, opts GrantOptions) (Entry, error)
	// Balance is the spendable credit now (expired grants excluded). An
	// unknown member has balance 0 and no error.
	Balance(ctx context.Context, email string) (int64, error)
	// Debit charges a booking once. An InsufficientError (ErrInsufficient)
	// when the balance is short; nothing is written then.
	Debit(ctx context.Context, d Debit) (DebitResult, error)
	// LiveDebit returns the live (not refunded, not moved) debit of a
	// booking uid, or ErrNotFound. After a Move the debit keeps its original
	// entry: entries are never rewritten, so its BookingUID is the uid first
	// charged, and the KindTransfer entries tell where it went.
	LiveDebit(ctx context.Context, bookingUID string) (Entry, error)
	// Refund gives back the live debit of a booking uid, once, to the grants
	// it was taken from, and returns the refund entry. Credit returned to a
	// grant that has expired since is expired again at once (a refund entry,
	// then an expire entry). ErrNotFound when there is no live debit (never
	// debited, or already refunded, forfeited or moved); the uid may be
	// debited afresh after a refund.
	Refund(ctx context.Context, bookingUID, note string) (Entry, error)
	// Forfeit records that a live debit is kept (late cancellation). The
	// debit stops being live: no later refund. ErrNotFound when none.
	Forfeit(ctx context.Context, bookingUID, note string) (Entry, error)
	// Move transfers the live debit of oldUID to newUID (a reschedule) and
	// returns the KindTransfer entry (amount 0, BookingUID newUID). A no-op
	// returning the existing debit when newUID is already debited (so a
	// replayed Move is harmless); otherwise ErrNotFound when oldUID has no
	// live debit.
	Move(ctx context.Context, oldUID, newUID, note string) (Entry, error)
	// Adjust corrects a balance by a signed amount: a positive one adds
	// credit that never expires, a negative one spends like a debit; never
	// below zero (ErrInsufficient). ErrInvalid for 0.
	Adjust(ctx context.Context, email string, amount int64, note string) (Entry, error)
	// Record writes an entry that moves nothing: KindOverride, KindForfeit
	// or KindTransfer; ErrInvalid for any other kind or an empty email.
	Record(ctx context.Context, email string, kind Kind, bookingUID, note string) (Entry, error)
	// History lists a member's entries, oldest first (none for an unknown
	// member).
	History(ctx context.Context, email string) ([]Entry, error)
	// Alias makes alias spend the balance of email: every call naming alias
	// acts on email's member (or on the member email is itself an alias of).
	// Aliasing an address to itself, or again to the same member, is a
	// no-op. ErrInvalid when alias already has a ledger of its own, is an
	// alias of another member, or would close a cycle.
	Alias(ctx context.Context, email, alias string) error

	// SetPrice sets the cost of an event type (0 = free). ErrInvalid < 0.
	SetPrice(ctx context.Context, eventTypeID, cost int64) error
	// Price returns the cost of an event type; ok false when none is set.
	Price(ctx context.Context, eventTypeID int64) (cost int64, ok bool, err error)
	// Prices lists every set price by event type id.
	Prices(ctx context.Context) ([]Price, error)

	// SaveBooking upserts the record of a booking: every field is replaced,
	// Email normalised and UpdatedAt set to now. ErrInvalid for an empty UID.
	SaveBooking(ctx context.Context, b Booking) error
	// GetBooking returns a booking record, or ErrNotFound.
	GetBooking(ctx context.Context, uid string) (Booking, error)

	// SaveDeadLetter upserts by ID. The first save records every field
	// (ReplayedAt nil, Replays 0, whatever d holds); a task that dies again
	// after a replay updates Error, Retried and FailedAt, clears ReplayedAt
	// and keeps the rest (Queue, Type, Payload, BookingUID as first saved,
	// and the count of Replays). A zero FailedAt is taken as now. ErrInvalid
	// for an empty ID or a negative Retried.
	SaveDeadLetter(ctx context.Context, d DeadLetter) error
	// DeadLetters lists dead letters, newest failure first (ties by ID);
	// pending=true keeps only those not replayed since their last failure.
	// None is an empty list, not nil.
	DeadLetters(ctx context.Context, pending bool) ([]DeadLetter, error)
	// GetDeadLetter returns one, or ErrNotFound.
	GetDeadLetter(ctx context.Context, id string) (DeadLetter, error)
	// MarkReplayed records a replay: ReplayedAt = at (now when zero),
	// Replays++. ErrNotFound when unknown.
	MarkReplayed(ctx context.Context, id string, at time.Time) error

	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// NormalizeEmail is how every email is compared: trimmed, lower case.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
