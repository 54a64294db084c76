// Package metrics exposes the portal's Prometheus metrics
// (prometheus/client_golang): request latency by route pattern, the grading
// queue, grade times by lab and verdict, sandboxes by state, the warm pool,
// the container engine, and the email outbox.
//
// Everything but request latency is read at scrape time through small
// interfaces (Sources), so nothing else in the portal has to know about
// Prometheus: the store answers the queue, sandbox and outbox questions,
// the sandbox manager the warm pool and engine ones. Grade times are
// histograms fed from the results stored since the process started, read
// incrementally at each scrape.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline"
)

// QueueSource reports the grading queue (store.DB).
type QueueSource interface {
	QueueStats(ctx context.Context) (*faultline.QueueStats, error)
}

// SandboxSource counts sandbox rows by state (store.DB).
type SandboxSource interface {
	CountSandboxes(ctx context.Context) (map[faultline.SandboxState]int, error)
}

// PoolSource reports the warm pool (sandbox.Manager).
type PoolSource interface {
	PoolReady() int
}

// GradeSource feeds grade times (store.DB).
type GradeSource interface {
	// LatestResultID is the newest result's id (0 when none).
	LatestResultID(ctx context.Context) (int64, error)
	// GradeTimings returns up to limit results with ids above afterID, in
	// id order.
	GradeTimings(ctx context.Context, afterID int64, limit int) ([]faultline.GradeTiming, error)
}

// EngineSource reports the container engine. Ping answers whether it is
// reachable; Errors, when the source counts them, returns the engine calls
// that failed since the process started, by operation.
type EngineSource interface {
	Ping(ctx context.Context) error
}

// EngineErrorSource is an EngineSource that also counts failed calls.
type EngineErrorSource interface {
	EngineErrors() map[string]uint64
}

// MailSource reports the email outbox (store.DB).
type MailSource interface {
	MailStats(ctx context.Context) (faultline.MailStats, error)
}

// Sources are what the collectors read; any may be nil and its metrics are
// then left out.
type Sources struct {
	Queue     QueueSource
	Sandboxes SandboxSource
	Pool      PoolSource
	Grades    GradeSource
	Engine    EngineSource
	Mail      MailSource
}

// Metrics holds the registry and the request instrumentation.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	state    *stateCollector
}

// New returns metrics reading src. Now is the clock for ages (time.Now if
// nil); log receives scrape errors (discarded if nil).
func New(src Sources, now func() time.Time, log *slog.Logger) *Metrics {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "faultline", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code. Streams (SSE, the terminal) count their whole life.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route", "method", "code"}),
		state: newStateCollector(src, now, log),
	}
	reg.MustRegister(m.requests, m.state,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry behind Handler, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// stateCollector reads the sources at each scrape.
type stateCollector struct {
	src Sources
	now func() time.Time
	log *slog.Logger

	queued, running, workers, oldest *prometheus.Desc
	sandboxes, pool, engineUp        *prometheus.Desc
	engineErrors                     *prometheus.Desc
	mailPending, mailFailed, mailAge *prometheus.Desc
	scrapeErrors                     *prometheus.Desc

	mu         sync.Mutex // one scrape at a time reads the grade feed
	gradeTime  *prometheus.HistogramVec
	queueWait  prometheus.Histogram
	lastResult int64
	started    bool
	errs       map[string]float64
}

func newStateCollector(src Sources, now func() time.Time, log *slog.Logger) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("faultline_"+name, help, labels, nil)
	}
	return &stateCollector{
		src: src, now: now, log: log,
		queued:       d("grading_queue_depth", "Submissions waiting to be graded, by kind (learner or regrade).", "kind"),
		running:      d("grading_running", "Submissions being graded now."),
		workers:      d("grading_workers", "Grading workers holding a live lease."),
		oldest:       d("grading_queue_oldest_wait_seconds", "How long the oldest waiting learner submission has waited (0 when none waits)."),
		sandboxes:    d("sandboxes", "Learner sandboxes by recorded state.", "state"),
		pool:         d("sandbox_warm_pool_ready", "Warm sandbox containers ready to be claimed."),
		engineUp:     d("engine_up", "1 when the container engine answers a ping, else 0."),
		engineErrors: d("engine_errors_total", "Container engine calls that failed since the process started, by operation.", "op"),
		mailPending:  d("mail_pending", "Emails waiting to be sent (including those backing off after a failure)."),
		mailFailed:   d("mail_failed", "Emails given up after their attempts (kept in the outbox)."),
		mailAge:      d("mail_oldest_pending_seconds", "Age of the oldest email waiting to be sent (0 when none waits)."),
		scrapeErrors: d("metrics_source_errors_total", "Scrapes where a metrics source failed, by source.", "source"),
		gradeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "faultline", Name: "grade_duration_seconds",
			Help:    "Time a grading run took, by lab and verdict, for grades stored since the process started.",
			Buckets: []float64{.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 120},
		}, []string{"lab", "status"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "faultline", Name: "grading_queue_wait_seconds",
			Help:    "Time a learner's submission waited in the queue before its grading started, for grades stored since the process started.",
			Buckets: []float64{.1, .5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800},
		}),
		errs: map[string]float64{},
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.running, c.workers, c.oldest, c.sandboxes, c.pool,
		c.engineUp, c.engineErrors, c.mailPending, c.mailFailed, c.mailAge, c.scrapeErrors} {
		ch <- d
	}
	c.gradeTime.Describe(ch)
	c.queueWait.Describe(ch)
}

// scrapeTimeout bounds each source's answer, so a slow engine or a locked
// database cannot hang the scrape.
const scrapeTimeout = 3 * time.Second

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	fail := func(source string, err error) {
		c.errs[source]++
		c.log.Warn("metrics source failed", "source", source, "err", err)
	}
	if s := c.src.Queue; s != nil {
		if q, err := s.QueueStats(ctx); err != nil {
			fail("queue", err)
		} else {
			gauge(c.queued, float64(q.Queued-q.Regrades), "learner")
			gauge(c.queued, float64(q.Regrades), "regrade")
			gauge(c.running, float64(q.Running))
			gauge(c.workers, float64(q.Workers))
			age := 0.0
			if !q.OldestQueued.IsZero() {
				age = max(now.Sub(q.OldestQueued).Seconds(), 0)
			}
			gauge(c.oldest, age)
		}
	}
	if s := c.src.Sandboxes; s != nil {
		if counts, err := s.CountSandboxes(ctx); err != nil {
			fail("sandboxes", err)
		} else {
			for _, st := range []faultline.SandboxState{faultline.SandboxStarting, faultline.SandboxRunning, faultline.SandboxStopped, faultline.SandboxFailed} {
				gauge(c.sandboxes, float64(counts[st]), string(st))
			}
		}
	}
	if s := c.src.Pool; s != nil {
		gauge(c.pool, float64(s.PoolReady()))
	}
	if s := c.src.Engine; s != nil {
		up := 1.0
		if err := s.Ping(ctx); err != nil {
			up = 0
		}
		gauge(c.engineUp, up)
		if es, ok := s.(EngineErrorSource); ok {
			for op, n := range es.EngineErrors() {
				ch <- prometheus.MustNewConstMetric(c.engineErrors, prometheus.CounterValue, float64(n), op)
			}
		}
	}
	if s := c.src.Mail; s != nil {
		if st, err := s.MailStats(ctx); err != nil {
			fail("mail", err)
		} else {
			gauge(c.mailPending, float64(st.Pending))
			gauge(c.mailFailed, float64(st.Failed))
			age := 0.0
			if !st.OldestPending.IsZero() {
				age = max(now.Sub(st.OldestPending).Seconds(), 0)
			}
			gauge(c.mailAge, age)
		}
	}
	if s := c.src.Grades; s != nil {
		if err := c.pullGrades(ctx, s); err != nil {
			fail("grades", err)
		}
		c.gradeTime.Collect(ch)
		c.queueWait.Collect(ch)
	}
	for source, n := range c.errs {
		ch <- prometheus.MustNewConstMetric(c.scrapeErrors, prometheus.CounterValue, n, source)
	}
}

// pullGrades observes the results stored since the last scrape. The first
// scrape starts from the newest result, so the histograms count grades
// since the process started, as counters do.
func (c *stateCollector) pullGrades(ctx context.Context, s GradeSource) error {
	if !c.started {
		id, err := s.LatestResultID(ctx)
		if err != nil {
			return err
		}
		c.lastResult, c.started = id, true
		return nil
	}
	for range 20 { // at most 20 000 results per scrape; the rest next time
		ts, err := s.GradeTimings(ctx, c.lastResult, 1000)
		if err != nil {
			return err
		}
		for _, t := range ts {
			c.gradeTime.WithLabelValues(t.Lab, string(t.Status)).Observe(t.Duration.Seconds())
			if !t.Regrade {
				c.queueWait.Observe(t.Wait.Seconds())
			}
			c.lastResult = t.ResultID
		}
		if len(ts) < 1000 {
			return nil
		}
	}
	return nil
}

// Start reads the grade feed's starting point now, so grades stored before
// the first scrape are counted. Call it once at startup.
func (m *Metrics) Start(ctx context.Context) error {
	c := m.state
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src.Grades == nil || c.started {
		return nil
	}
	return c.pullGrades(ctx, c.src.Grades)
}
