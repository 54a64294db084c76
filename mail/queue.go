package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/faultline-dev/faultline"
)

// QueueOptions configure a Queue. Zero values mean the defaults.
type QueueOptions struct {
	ID          string        // lease owner name (default hostname-pid-random)
	Poll        time.Duration // how often an idle queue looks for due mail (default 5s)
	Lease       time.Duration // how long a delivery may take before another worker may retry it (default 2m)
	MaxAttempts int           // attempts before a message is given up as failed (default 10)
	// Backoff is the wait after the first failed attempt; it doubles with
	// each attempt up to MaxBackoff (defaults 30s and 1h; with 10 attempts a
	// message is tried for about four hours).
	Backoff    time.Duration
	MaxBackoff time.Duration
	Logger     *slog.Logger
	Now        func() time.Time // the clock for backoff times (default time.Now)
}

// Queue delivers the outbox's due messages through a Transport.
type Queue struct {
	box  faultline.Outbox
	tr   Transport
	opt  QueueOptions
	log  *slog.Logger
	kick chan struct{}
}

// NewQueue returns a Queue that takes mail from box and sends it with tr.
func NewQueue(box faultline.Outbox, tr Transport, opt QueueOptions) *Queue {
	if opt.ID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		opt.ID = fmt.Sprintf("mail-%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 30 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{box: box, tr: tr, opt: opt, log: log, kick: make(chan struct{}, 1)}
}

// Kick wakes the queue to look for due mail now; it never blocks.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends, then returns nil. Store and
// delivery errors are logged and retried, never returned. A message being
// sent when ctx ends keeps its lease and is retried once it runs out.
func (q *Queue) Run(ctx context.Context) error {
	t := time.NewTicker(q.opt.Poll)
	defer t.Stop()
	for {
		if _, err := q.Drain(ctx); err != nil && ctx.Err() == nil {
			q.log.WarnContext(ctx, "mail queue", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-q.kick:
		}
	}
}

// Drain delivers every message due now, one at a time, and returns how
// many were sent. It stops at the first store error.
func (q *Queue) Drain(ctx context.Context) (sent int, err error) {
	for ctx.Err() == nil {
		m, err := q.box.ClaimMail(ctx, q.opt.ID, q.opt.Lease)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return sent, nil
		} else if err != nil {
			return sent, fmt.Errorf("claim mail: %w", err)
		}
		ok, err := q.deliver(ctx, m)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// deliver sends one claimed message and records the outcome; ok reports a
// delivery.
func (q *Queue) deliver(ctx context.Context, m *faultline.MailMessage) (ok bool, err error) {
	sendCtx, cancel := context.WithTimeout(ctx, q.opt.Lease)
	serr := q.tr.Send(sendCtx, m)
	cancel()
	// Record the outcome even when ctx ended meanwhile: a sent message
	// must not be sent again.
	rec := context.WithoutCancel(ctx)
	switch {
	case serr == nil:
		if err := q.box.MarkMailSent(rec, m.ID, q.opt.ID); err != nil {
			return false, fmt.Errorf("mark mail %d sent: %w", m.ID, err)
		}
		q.log.InfoContext(ctx, "mail sent", "mail", m.ID, "kind", m.Kind, "attempt", m.Attempts)
		return true, nil
	case errors.Is(serr, ErrPermanent) || m.Attempts >= q.opt.MaxAttempts:
		if err := q.box.FailMail(rec, m.ID, q.opt.ID, serr.Error()); err != nil {
			return false, fmt.Errorf("give up mail %d: %w", m.ID, err)
		}
		q.log.WarnContext(ctx, "mail given up", "mail", m.ID, "kind", m.Kind, "attempts", m.Attempts, "err", serr)
		return false, nil
	default:
		next := q.opt.Now().Add(q.backoff(m.Attempts))
		if err := q.box.RetryMail(rec, m.ID, q.opt.ID, serr.Error(), next); err != nil {
			return false, fmt.Errorf("retry mail %d: %w", m.ID, err)
		}
		q.log.WarnContext(ctx, "mail delivery failed; will retry", "mail", m.ID, "kind", m.Kind,
			"attempt", m.Attempts, "retry_at", next, "err", serr)
		return false, nil
	}
}

// backoff is the wait after the given number of failed attempts:
// Backoff·2^(attempts-1), at most MaxBackoff.
func (q *Queue) backoff(attempts int) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	f := float64(q.opt.Backoff) * math.Pow(2, float64(attempts-1))
	if f > float64(q.opt.MaxBackoff) {
		return q.opt.MaxBackoff
	}
	return time.Duration(f)
}
