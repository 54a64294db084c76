package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/recovery"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/web"
)

func runServe(ctx context.Context, cfg Config, args []string, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.registerServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr("serve: %v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("serve takes no arguments, got %q", fs.Args())
	}
	m := NewMain(cfg, logger, stderr)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down", "grace", cfg.ShutdownGrace)
	return m.Close()
}

// Main is the running portal: the database, the Docker engine, the grading
// worker and the HTTP server. Tests start it on 127.0.0.1:0 with a temp data dir.
type Main struct {
	Config Config
	Logger *slog.Logger
	Stderr io.Writer // where the setup link is printed

	DB      *store.DB
	Engine  *sandbox.Engine
	Labs    *labs.Catalog
	Content *content.Catalog
	Worker  *grader.Worker

	URL        string // where the server listens, once Run returned
	SetupToken string // one-time first-admin token, when the portal had no accounts

	http       *http.Server
	web        *web.Server // its open terminals are closed at shutdown
	ln         net.Listener
	cancelBG   context.CancelFunc
	background sync.WaitGroup
	workerErr  chan error
	inst       institutionParts // email, SSO, LTI (institution.go)
	closeOnce  sync.Once
	closeErr   error
}

// NewMain returns a Main for cfg; Run starts it.
func NewMain(cfg Config, logger *slog.Logger, stderr io.Writer) *Main {
	return &Main{Config: cfg, Logger: logger, Stderr: stderr}
}

// Run validates the config, opens everything and starts serving in the
// background. It returns once the listener is open; a Docker engine that does
// not answer is logged, not fatal: lessons serve, labs say why they cannot.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return usageErr("%v", err)
	}
	var err error
	if m.Content, m.Labs, err = loadCatalogs(m.Config); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if m.DB, err = store.Open(filepath.Join(m.Config.DataDir, "faultline.db")); err != nil {
		return err
	}
	m.DB.StorageBudget = m.Config.Fairness.WithDefaults().StorageBytes
	if m.Engine, err = newEngine(m.Config, m.Logger); err != nil {
		return err
	}
	scope, err := installationID(m.Config.DataDir)
	if err != nil {
		return err
	}
	m.Engine.SetScope(scope)

	warm := m.Labs.StdImports()
	manager := sandbox.NewManager(m.Engine, m.DB, sandbox.ManagerOptions{
		Warm: warm, Runtime: m.Config.Runtime, Logger: m.Logger, PoolSize: m.Config.PoolSize,
		MaxLife: m.Config.MaxLife, MaxStarts: m.Config.MaxStarts,
	})
	g := grader.New(m.Engine, grader.Options{Warm: warm, Runtime: m.Config.Runtime, BuildCPUs: float64(m.Config.BuildCPUs), BuildCacheDir: m.Config.buildCacheDir(), BuildCacheMB: int64(m.Config.BuildCacheMiB), Logger: m.Logger})
	m.Worker = grader.NewWorker(m.DB, m.Labs.Lab, g, grader.WorkerOptions{
		Concurrency: m.Config.Workers,
		Ready:       m.Engine.Ping,
		Logger:      m.Logger,
	})

	if m.SetupToken, err = m.setupToken(ctx); err != nil {
		return err
	}
	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.URL = "http://" + m.ln.Addr().String()
	if m.Config.BaseURL == "" {
		m.Config.BaseURL = baseURL(m.ln.Addr())
	}
	m.inst.recovery = &recovery.Service{Users: m.DB, Resets: m.DB, BaseURL: m.Config.BaseURL, Logger: m.Logger}
	if err := m.openMail(); err != nil { // talkmail.go
		return err
	}
	svc, err := course.New(course.Deps{
		Users: m.DB, Sessions: m.DB, Cohorts: m.DB, Progress: m.DB, Workspace: m.DB,
		Submissions: m.DB, Records: m.DB, Instructor: m.DB, Scores: m.DB, Regrades: m.DB,
		Canceler: m.DB, Live: m.DB, Tokens: m.DB, Replays: m.DB, RestorePts: m.DB,
		Recovery:    m.inst.recovery, // institution.go adds email to it when there is some
		Discussions: m.DB, Groups: m.DB, Moderation: m.DB, Feedback: m.DB, Inbox: m.DB, Snapshots: m.DB, Dashboards: m.DB,
		Lessons: m.Content, Markdown: content.Render, Mailer: m.notificationMailer(),
		Sandboxes:  manager,
		Terminals:  manager,
		Replayer:   g,
		Similarity: grader.NewSimilarity(),
		Labs:       m.Labs,
		Kick:       m.Worker.Kick,
		Now:        time.Now,
		Logger:     m.Logger,
		Fairness:   m.Config.Fairness,
		SetupToken: m.SetupToken,
	})
	if err != nil {
		return err
	}
	if err := m.openInstitution(svc); err != nil { // institution.go
		return err
	}
	handler, err := web.New(m.withInstitution(manager, web.Deps{
		Course:        svc,
		Content:       m.Content,
		Labs:          m.Labs,
		Logger:        m.Logger,
		Now:           time.Now,
		BaseURL:       m.Config.BaseURL,
		SecureCookies: m.Config.SecureCookies,
	}))
	if err != nil {
		return err
	}
	m.web = handler

	m.http = &http.Server{
		Handler:           m.instrument(handler), // institution.go: request metrics
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      0, // SSE and test runs stream; handlers bound their own work
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}

	// Clean up after an earlier run before the worker can start a grade.
	engineUp := m.cleanUp(ctx, manager)
	bg, cancel := context.WithCancel(context.Background())
	m.cancelBG = cancel
	m.workerErr = make(chan error, 1)
	go func() { m.workerErr <- m.Worker.Run(bg) }()
	m.runInstitution(bg)
	if engineUp {
		m.background.Add(1)
		go func() {
			defer m.background.Done()
			if m.buildImage(bg, warm) {
				m.pruneImages(bg, warm)
			}
		}()
	}
	// The warm pool (it builds the image itself if needed, and retries while
	// the engine is down) and idle reaping.
	m.background.Add(2)
	go func() {
		defer m.background.Done()
		_ = manager.RunPool(bg)
	}()
	go func() {
		defer m.background.Done()
		m.reapIdle(bg, manager)
	}()
	go func() {
		if err := m.http.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server stopped", "err", err)
		}
	}()
	m.Logger.Info("faultline is serving", "url", m.Config.BaseURL, "listen", m.ln.Addr().String(),
		"data", m.Config.DataDir, "labs", len(m.Labs.All()))
	if m.SetupToken != "" {
		m.Logger.Info("no accounts yet: open the setup link printed below to create the first admin")
		fmt.Fprintf(m.Stderr, "\n  First start: create the admin account at\n  %s/setup?token=%s\n\n", m.Config.BaseURL, m.SetupToken)
	}
	return nil
}

// setupToken returns a fresh one-time token when the portal has no accounts.
func (m *Main) setupToken(ctx context.Context) (string, error) {
	n, err := m.DB.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	return randomToken(24)
}

// cleanUp removes this installation's grading containers left by an earlier
// run and reconciles sandboxes with the database. It reports whether the
// engine answered; when it does not, lessons still serve and labs and
// grading wait for it.
func (m *Main) cleanUp(ctx context.Context, manager *sandbox.Manager) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.Engine.Ping(ctx); err != nil {
		m.Logger.Warn("Docker engine unavailable: lessons serve, labs and grading wait for it", "err", err)
		return false
	}
	if n, err := m.Engine.RemoveOrphans(ctx, sandbox.KindGrade, nil); err != nil {
		m.Logger.Warn("remove orphan grading containers", "err", err)
	} else if n > 0 {
		m.Logger.Info("removed orphan grading containers", "count", n)
	}
	if removed, stopped, err := manager.Reconcile(ctx); err != nil {
		m.Logger.Warn("reconcile sandboxes", "err", err)
	} else if removed+stopped > 0 {
		m.Logger.Info("reconciled sandboxes with the engine", "removed_containers", removed, "marked_stopped", stopped)
	}
	return true
}

// reapIdle stops sandboxes idle longer than Config.IdleTimeout, and those
// running longer than Config.MaxLife however active (the lab page warns
// first), checking every minute until ctx ends. Saved files live in the
// database, so a reaped sandbox comes back with them at the next start.
func (m *Main) reapIdle(ctx context.Context, manager *sandbox.Manager) {
	t := time.NewTicker(min(time.Minute, m.Config.IdleTimeout/2, m.Config.MaxLife/2))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := manager.Reap(ctx, m.Config.IdleTimeout)
		if err != nil && ctx.Err() == nil {
			m.Logger.Warn("reap idle sandboxes", "err", err)
		} else if n > 0 {
			m.Logger.Info("stopped idle or expired sandboxes", "count", n, "idle_timeout", m.Config.IdleTimeout, "max_life", m.Config.MaxLife)
		}
	}
}

// buildImage builds the lab image ahead of time, so the first "Start lab"
// or grade does not wait for it, and reports whether it is ready.
func (m *Main) buildImage(ctx context.Context, warm []string) bool {
	start := time.Now()
	tag, err := m.Engine.LabImage(ctx, warm)
	if err != nil {
		m.Logger.Warn("build lab image", "err", err)
		return false
	}
	m.Logger.Info("lab image ready", "image", tag, "took", time.Since(start).Round(time.Millisecond))
	return true
}

// pruneImages removes lab images that none of this portal's labs uses any
// more (left by an older toolchain, labkit or warm list) and no container
// uses, once they are a day old (other portals and test runs share the
// engine's images).
func (m *Main) pruneImages(ctx context.Context, warm []string) {
	keep, err := m.Engine.LabImagesInUse(warm, m.Labs.All())
	if err != nil {
		m.Logger.Warn("prune old lab images", "err", err)
		return
	}
	removed, err := m.Engine.PruneLabImages(ctx, sandbox.PruneOptions{Keep: keep, MinAge: sandbox.DefaultPruneMinAge})
	if err != nil && ctx.Err() == nil {
		m.Logger.Warn("prune old lab images", "err", err)
	} else if len(removed) > 0 {
		m.Logger.Info("removed old lab images", "images", removed)
	}
}

// installationID returns the stable ID of the installation in dataDir,
// creating it on first start. It scopes the Docker objects this portal owns.
func installationID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "installation-id")
	if b, err := os.ReadFile(p); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read installation id: %w", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	id := hex.EncodeToString(b)
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write installation id: %w", err)
	}
	return id, nil
}

// Close drains: the server stops taking requests and finishes open ones, the
// worker stops claiming and finishes or requeues running jobs, then the engine
// and database close. Safe to call more than once.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownGrace)
		defer cancel()
		var errs []error
		if m.web != nil {
			// Terminal sockets are hijacked: Shutdown neither closes nor
			// waits for them.
			if err := m.web.CloseTerminals(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if m.http != nil {
			if err := m.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
		}
		if m.cancelBG != nil {
			m.cancelBG()
			if err := <-m.workerErr; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("grading worker: %w", err))
			}
			m.background.Wait()
		}
		if m.Engine != nil {
			m.Engine.Close()
		}
		if m.DB != nil {
			if err := m.DB.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// catalogFS returns the course and lab trees: the built-in ones, with an
// instructor's folders layered over them when set (a lesson file or a lab
// folder there adds to the catalog or replaces the built-in one of that name).
func catalogFS(cfg Config) (contentFS, labsFS fs.FS) {
	contentFS, labsFS = content.FS, labs.FS
	if cfg.ContentDir != "" {
		contentFS = newOverlay(os.DirFS(cfg.ContentDir), content.FS, 2)
	}
	if cfg.LabsDir != "" {
		labsFS = newOverlay(os.DirFS(cfg.LabsDir), labs.FS, 1)
	}
	return contentFS, labsFS
}

// loadCatalogs loads lessons and labs (see catalogFS).
func loadCatalogs(cfg Config) (*content.Catalog, *labs.Catalog, error) {
	contentFS, labsFS := catalogFS(cfg)
	cc, err := content.Load(contentFS)
	if err != nil {
		return nil, nil, fmt.Errorf("load content: %w", err)
	}
	lc, err := labs.Load(labsFS)
	if err != nil {
		return nil, nil, fmt.Errorf("load labs: %w", err)
	}
	return cc, lc, nil
}

// baseURL is the URL users reach a listener at, for links the portal prints.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() || tcp.IP.IsLoopback() {
		port := "8080"
		if ok {
			port = fmt.Sprint(tcp.Port)
		}
		return "http://localhost:" + port
	}
	return "http://" + addr.String()
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var _ faultline.Grader = (*grader.Grader)(nil)
