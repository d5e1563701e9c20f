package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// The memory a review may cost, charged before the work is done. The
// figures are upper bounds that TestReviewCostBound measures: the bytes a
// review of each shape allocates, relative to its body.
const (
	// reviewBytesPerBodyByte and reviewFixedBytes price a review before its
	// body is read: decoding the review and the object, policy checks, the
	// answer.
	reviewBytesPerBodyByte = 12
	reviewFixedBytes       = 128 << 10
	// expansionBytes is what one expansion may cost beyond that: a template
	// (task.MaxTemplateValues values) and an object of up to
	// task.MaxObjectBytes, as Go values, encoded, merged, diffed and patched.
	expansionBytes = 24 << 20
	// DefaultMemoryBudget bounds the memory of the reviews being handled at
	// once (the chart's memory limit is 512 MiB; the process itself, its
	// caches and the garbage collector's headroom need the rest).
	DefaultMemoryBudget = 192 << 20
)

// errBusy is a review beyond the count limit, errNoMemory one that found
// no memory within its deadline.
var (
	errBusy     = errors.New("too many requests in flight")
	errNoMemory = errors.New("no memory in time")
)

// budget bounds the work in flight: reviews (each charged before its body
// is read) in one pool, expansions in another (so that reviews waiting to
// expand cannot starve each other), and their number. A charge is returned
// when the review's work ends, not when it is answered: work that outlives
// its answer (a deadline passed) still counts.
type budget struct {
	reviews, expansions *semaphore.Weighted
	reviewBytes         int64
	count, maxCount     atomic.Int64
}

func newBudget(total int64, maxCount int) *budget {
	b := &budget{
		reviews:     semaphore.NewWeighted(total / 2),
		expansions:  semaphore.NewWeighted(max(total/2, expansionBytes)),
		reviewBytes: total / 2,
	}
	b.maxCount.Store(int64(maxCount))
	return b
}

// reviewCost prices a review whose body is n bytes (-1: undeclared, priced
// at the most a body may be).
func reviewCost(n int64) int64 {
	if n < 0 || n > MaxRequestBytes {
		n = MaxRequestBytes
	}
	return reviewBytesPerBodyByte*n + reviewFixedBytes
}

// admit charges a review of n body bytes, waiting until ctx is done for
// memory, and fails at once with errBusy beyond the count limit.
func (b *budget) admit(ctx context.Context, n int64) (*ticket, error) {
	if m := b.maxCount.Load(); m > 0 && b.count.Add(1) > m {
		b.count.Add(-1)
		return nil, errBusy
	} else if m <= 0 {
		b.count.Add(1)
	}
	cost := min(reviewCost(n), b.reviewBytes)
	if err := b.reviews.Acquire(ctx, cost); err != nil {
		b.count.Add(-1)
		return nil, errNoMemory
	}
	t := &ticket{b: b, cost: cost}
	t.refs.Store(1)
	return t, nil
}

// ticket is one review's charge. It is returned once every holder let go:
// the HTTP handler that answers, and the goroutine that does the work.
type ticket struct {
	b    *budget
	cost int64
	refs atomic.Int32
}

func (t *ticket) hold() { t.refs.Add(1) }

func (t *ticket) done() {
	if t.refs.Add(-1) == 0 {
		t.b.reviews.Release(t.cost)
		t.b.count.Add(-1)
	}
}

type ticketKey struct{}

func withTicket(ctx context.Context, t *ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

func ticketOf(ctx context.Context) *ticket {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	return t
}

// chargeExpansion takes an expansion's charge from the budget of the review
// ctx belongs to, waiting while ctx lasts; release returns it. Outside the
// server (tests, the CLI) there is no budget and nothing is charged. It is
// expand.Expander's Reserve: objects left alone (already expanded, task
// annotations unchanged) are not charged.
func chargeExpansion(ctx context.Context) (release func(), err error) {
	t := ticketOf(ctx)
	if t == nil {
		return func() {}, nil
	}
	if err := t.b.expansions.Acquire(ctx, expansionBytes); err != nil {
		return nil, fmt.Errorf("no memory for the expansion in time: %w (%w)", errNoMemory, err)
	}
	return func() { t.b.expansions.Release(expansionBytes) }, nil
}
