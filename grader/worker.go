package grader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// WorkerOptions configure a Worker. Zero values mean the defaults.
type WorkerOptions struct {
	// ID names this worker in leases (default: hostname-pid-random). Each
	// goroutine holds leases as ID/n.
	ID string
	// Concurrency is the number of submissions graded at once (default 1).
	// On a 2-core machine one is right: a grade compiles and runs tests on a
	// full CPU, a second one would take the other core from the web server
	// and the learners' sandboxes, and tests near the time limit would get
	// verdicts that depend on what else is running, which makes grading
	// unfair and `labs check` flaky. Raise it with the core count.
	Concurrency int
	// Poll is how long an idle goroutine waits before looking for work again
	// (default 2s); Kick wakes one at once.
	Poll time.Duration
	// RequeueEvery is how many Poll periods pass between RequeueExpired
	// calls (default 15, i.e. every 30 s with the default Poll).
	RequeueEvery int
	// Lease is the lease taken on a claimed submission, extended every
	// Lease/3 while it is graded (default 1 minute).
	Lease time.Duration
	// MaxAttempts is how many grading attempts a submission gets before it
	// is completed with StatusError (default 5). Attempts that end in a
	// grading error (the engine down) are released and retried.
	MaxAttempts int
	// Drain is how long running grades may go on after Run's context is
	// cancelled before they are abandoned and released (default 30s).
	Drain time.Duration
	// Ready, if set, is called before claiming while the previous attempt
	// failed with a grading error (e.g. sandbox.Engine.Ping); the worker does
	// not claim (and so burns no attempts) until it returns nil.
	Ready func(ctx context.Context) error
	// Logger receives job events; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now); only used for log durations.
	Now func() time.Time
}

// Worker takes submissions from the queue, grades them and stores results.
type Worker struct {
	subs   faultline.SubmissionService
	labs   func(slug string) (*faultline.Lab, error)
	g      faultline.Grader
	opt    WorkerOptions
	log    *slog.Logger
	kick   chan struct{}
	runMu  sync.Mutex
	ranYet bool
}

// NewWorker returns a Worker that claims submissions from subs, looks their
// lab up with labs (which returns ENOTFOUND for an unknown slug) and grades
// them with g.
func NewWorker(subs faultline.SubmissionService, labs func(slug string) (*faultline.Lab, error), g faultline.Grader, opt WorkerOptions) *Worker {
	if opt.ID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		opt.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 1
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.RequeueEvery <= 0 {
		opt.RequeueEvery = 15
	}
	if opt.Lease <= 0 {
		opt.Lease = time.Minute
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.Drain <= 0 {
		opt.Drain = 30 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{subs: subs, labs: labs, g: g, opt: opt, log: log.With("worker", opt.ID), kick: make(chan struct{}, 1)}
}

// Kick wakes an idle goroutine to look for work now. It never blocks; the
// web layer calls it after creating a submission.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run grades submissions until ctx is cancelled, then stops claiming, lets
// running grades finish for up to Drain, releases the ones still running and
// returns nil once every goroutine is done. Store errors are logged and
// retried, never returned. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	w.runMu.Lock()
	if w.ranYet {
		w.runMu.Unlock()
		return fmt.Errorf("worker %s: Run called twice", w.opt.ID)
	}
	w.ranYet = true
	w.runMu.Unlock()

	var wg sync.WaitGroup
	for i := 0; i < w.opt.Concurrency; i++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			w.loop(ctx, id)
		}(fmt.Sprintf("%s/%d", w.opt.ID, i))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.requeueLoop(ctx)
	}()
	wg.Wait()
	return nil
}

func (w *Worker) requeueLoop(ctx context.Context) {
	t := time.NewTicker(w.opt.Poll * time.Duration(w.opt.RequeueEvery))
	defer t.Stop()
	for {
		if n, err := w.subs.RequeueExpired(ctx); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("requeue expired submissions", "err", err)
			}
		} else if n > 0 {
			w.log.Info("requeued submissions with expired leases", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sleep waits d, a kick or the end of ctx; it reports false if ctx ended.
func (w *Worker) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.kick:
		return true
	case <-t.C:
		return true
	}
}

func (w *Worker) loop(ctx context.Context, id string) {
	unhealthy := false
	for ctx.Err() == nil {
		if unhealthy && w.opt.Ready != nil {
			if err := w.opt.Ready(ctx); err != nil {
				w.log.Debug("grader not ready", "err", err)
				if !w.sleep(ctx, w.opt.Poll) {
					return
				}
				continue
			}
		}
		sub, err := w.subs.ClaimSubmission(ctx, id, w.opt.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if faultline.ErrorCode(err) != faultline.ENOTFOUND {
				w.log.Warn("claim submission", "err", err)
			}
			if !w.sleep(ctx, w.opt.Poll) {
				return
			}
			continue
		}
		ok := w.handle(ctx, id, sub)
		unhealthy = !ok
		if !ok && !w.sleep(ctx, w.opt.Poll) {
			return
		}
	}
}

// handle grades one claimed submission. It reports false when grading
// failed for a reason that is not the learner's (so the caller backs off).
func (w *Worker) handle(ctx context.Context, id string, sub *faultline.Submission) bool {
	log := w.log.With("submission", sub.ID, "lab", sub.Lab, "attempt", sub.Attempts)
	// Store calls must not die with ctx: a result or a release has to land
	// even during shutdown.
	store := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}
	complete := func(r *faultline.Result) {
		sctx, cancel := store()
		defer cancel()
		if err := w.subs.CompleteSubmission(sctx, sub.ID, id, r); err != nil {
			log.Warn("complete submission", "err", err)
		}
	}
	release := func() {
		sctx, cancel := store()
		defer cancel()
		if err := w.subs.ReleaseSubmission(sctx, sub.ID, id); err != nil {
			log.Warn("release submission", "err", err)
		}
	}
	giveUp := func(msg string) {
		complete(&faultline.Result{Lab: sub.Lab, Status: faultline.StatusError, Message: msg})
	}

	if sub.Attempts > w.opt.MaxAttempts {
		log.Warn("giving up on submission: too many attempts")
		giveUp(fmt.Sprintf("This submission could not be graded after %d attempts because of a problem on our side; it does not count against you. Please submit again later.", w.opt.MaxAttempts))
		return true
	}
	if len(sub.Files) == 0 {
		full, err := w.subs.FindSubmission(ctx, sub.ID)
		if err != nil {
			log.Warn("load submission files", "err", err)
			release()
			return false
		}
		sub.Files = full.Files
	}
	lab, err := w.labs(sub.Lab)
	if err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			giveUp(fmt.Sprintf("The lab %q no longer exists, so this submission cannot be graded.", sub.Lab))
			return true
		}
		log.Warn("find lab", "err", err)
		release()
		return false
	}

	// The grade runs on its own context: cancelling ctx (shutdown) leaves it
	// Drain to finish; losing the lease stops it at once.
	jobCtx, cancelJob := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJob()
	var (
		mu       sync.Mutex
		lostTo   string // why the job was stopped: "drain" or "lease"
		finished = make(chan struct{})
	)
	stop := func(why string) {
		mu.Lock()
		if lostTo == "" {
			lostTo = why
		}
		mu.Unlock()
		cancelJob()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(w.opt.Lease / 3)
		defer tick.Stop()
		var drain <-chan time.Time
		done := ctx.Done()
		for {
			select {
			case <-finished:
				return
			case <-done:
				done = nil
				t := time.NewTimer(w.opt.Drain)
				defer t.Stop()
				drain = t.C
			case <-drain:
				stop("drain")
				return
			case <-tick.C:
				sctx, cancel := store()
				err := w.subs.ExtendLease(sctx, sub.ID, id, w.opt.Lease)
				cancel()
				if faultline.ErrorCode(err) == faultline.ECONFLICT {
					stop("lease")
					return
				} else if err != nil {
					log.Warn("extend lease", "err", err)
				}
			}
		}
	}()

	start := w.opt.Now()
	res, err := w.g.Grade(jobCtx, lab, sub.Files)
	close(finished)
	bg.Wait()
	mu.Lock()
	why := lostTo
	mu.Unlock()

	switch {
	case why == "lease":
		log.Warn("lost the lease while grading; dropping the result")
		return true
	case why == "drain":
		log.Info("shutting down: releasing the unfinished grade")
		release()
		return true
	case err != nil:
		if sub.Attempts >= w.opt.MaxAttempts {
			log.Error("grading failed; giving up", "err", err)
			giveUp(fmt.Sprintf("This submission could not be graded after %d attempts because of a problem on our side (%s); it does not count against you. Please submit again later.",
				w.opt.MaxAttempts, faultline.ErrorMessage(err)))
			return false
		}
		log.Warn("grading failed; releasing for a retry", "err", err)
		release()
		return false
	}
	log.Info("graded", "status", res.Status, "score", res.Score, "max", res.MaxScore, "took", w.opt.Now().Sub(start).Round(time.Millisecond))
	complete(res)
	return true
}
