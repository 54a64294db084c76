package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/testjson"
)

// Sandbox container layout.
const (
	// WorkDir is the learner's workspace inside a sandbox: a tmpfs, filled
	// from the database at every start (the database is the source of truth).
	WorkDir = "/work"

	sandboxWorkMB  = 64    // size of the /work tmpfs
	sandboxTmpMB   = 256   // size of the /tmp tmpfs (go build's scratch space)
	sandboxMaxLife = 43200 // seconds: the longest ManagerOptions.MaxLife, the cap the reaper enforces
	maxTestStream  = 4 << 20
)

// ManagerOptions configure a Manager. Zero values take the defaults.
type ManagerOptions struct {
	Warm     []string         // standard-library packages to pre-compile into the lab image
	MemoryMB int64            // sandbox memory, no swap (default 1024)
	Runtime  string           // optional runtime ("" = the backend's default; "runsc" for gVisor)
	Logger   *slog.Logger     // default: discard
	Now      func() time.Time // default: time.Now
	// Scope, when set, is put on every sandbox as the faultline.scope label,
	// and Reconcile and Stop touch only sandboxes of this scope: several
	// portals (or test runs) can then share one orchestrator.
	Scope string
	// PoolSize is how many warm containers RunPool keeps ready (0: none).
	PoolSize int
	// MaxLife is the hard cap on a sandbox's life from the moment it started
	// running, active or not: Reap stops it then (default DefaultMaxLife;
	// at most the containers' own 12-hour backstop).
	MaxLife time.Duration
	// MaxStarts caps the cold starts (image, create, start) that run at
	// once (default DefaultMaxStarts); beyond it Start returns ETOOMANY
	// with a *BusyError. Claiming a warm container does not count: it is
	// a copy, the orchestrator does no heavy work for it, and refusing a
	// learner while a warm container waits would defeat the pool.
	MaxStarts int
}

// Manager runs learners' lab sandboxes and keeps the SandboxStore in step
// with the orchestrator (through the Engine's backend). It implements
// faultline.Sandboxes.
type Manager struct {
	e   *Engine
	st  faultline.SandboxStore
	opt ManagerOptions
	log *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per (user, lab): one start/stop at a time

	poolMu   sync.Mutex
	pool     []*seeding    // warm containers waiting for a workspace, oldest first
	poolKick chan struct{} // wakes RunPool after a claim

	starts *startGate // caps concurrent cold starts (limits.go)
}

var _ faultline.Sandboxes = (*Manager)(nil)

// NewManager returns a Manager running sandboxes on e and recording them in st.
func NewManager(e *Engine, st faultline.SandboxStore, opt ManagerOptions) *Manager {
	if opt.MemoryMB <= 0 {
		opt.MemoryMB = 1024
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Scope == "" {
		opt.Scope = e.Scope()
	}
	if opt.MaxLife <= 0 || opt.MaxLife > sandboxMaxLife*time.Second {
		opt.MaxLife = min(DefaultMaxLife, sandboxMaxLife*time.Second)
	}
	if opt.MaxStarts <= 0 {
		opt.MaxStarts = DefaultMaxStarts
	}
	return &Manager{e: e, st: st, opt: opt, log: opt.Logger, locks: map[string]*sync.Mutex{}, poolKick: make(chan struct{}, 1),
		starts: newStartGate(opt.MaxStarts, opt.Now)}
}

func (m *Manager) lock(userID int64, lab string) func() {
	key := strconv.FormatInt(userID, 10) + "/" + lab
	m.mu.Lock()
	l := m.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[key] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Start ensures the learner's sandbox for lab is running with the workspace
// in /work: the lab's synthesized go.mod and visible tests, overlaid by files
// (the learner's saved files win). It reports phases to phase (may be nil)
// and records every state change in the store. A sandbox the store knows as
// running whose container really runs is returned at once. Errors: EINVALID
// or ETOOLARGE for bad files, EUNAVAILABLE when the orchestrator is down (the row
// is then marked failed with a user-safe reason), ETOOMANY (a *BusyError
// saying when to retry) when MaxStarts cold starts are running already (the
// row is then left as it was).
func (m *Manager) Start(ctx context.Context, userID int64, lab *faultline.Lab, files []faultline.File, phase func(faultline.SandboxPhase)) (*faultline.Sandbox, error) {
	if lab == nil || lab.Slug == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "No lab given.")
	}
	report := func(p faultline.SandboxPhase) {
		if phase != nil {
			phase(p)
		}
	}
	defer m.lock(userID, lab.Slug)()

	sb, err := m.st.FindSandbox(ctx, userID, lab.Slug)
	switch {
	case faultline.ErrorCode(err) == faultline.ENOTFOUND:
		sb = &faultline.Sandbox{UserID: userID, Lab: lab.Slug, CreatedAt: m.opt.Now()}
	case err != nil:
		return nil, fmt.Errorf("start sandbox user %d lab %q: %w", userID, lab.Slug, err)
	case sb.State == faultline.SandboxRunning && sb.ContainerID != "":
		running, err := m.e.containerRunning(ctx, sb.ContainerID)
		if err != nil {
			return nil, err
		}
		if running {
			if err := m.st.TouchSandbox(ctx, sb.ID); err != nil {
				m.log.Warn("touch sandbox", "id", sb.ID, "err", err)
			}
			report(faultline.PhaseReady)
			return sb, nil
		}
	}

	workspace, err := sandboxWorkspace(lab, files)
	if err != nil {
		return nil, err
	}

	prev := *sb
	now := m.opt.Now()
	sb.State, sb.Error, sb.UpdatedAt, sb.LastActiveAt = faultline.SandboxStarting, "", now, now
	if err := m.st.UpsertSandbox(ctx, sb); err != nil {
		return nil, fmt.Errorf("record sandbox starting user %d lab %q: %w", userID, lab.Slug, err)
	}
	id, err := m.create(ctx, userID, lab, prev.ContainerID, workspace, report)
	if faultline.ErrorCode(err) == faultline.ETOOMANY {
		m.restore(sb, prev)
		return nil, err
	} else if err != nil {
		m.markFailed(sb, err)
		return nil, err
	}
	now = m.opt.Now()
	sb.State, sb.ContainerID, sb.UpdatedAt, sb.LastActiveAt = faultline.SandboxRunning, id, now, now
	if err := m.st.UpsertSandbox(ctx, sb); err != nil {
		// The row is the claim: a container it does not name is an orphan.
		m.e.removeContainer(id)
		return nil, fmt.Errorf("record sandbox running user %d lab %q: %w", userID, lab.Slug, err)
	}
	report(faultline.PhaseReady)
	return sb, nil
}

// sandboxWorkspace returns the files a fresh sandbox gets: the visible
// tests, overlaid by the learner's files, and the lab's go.mod
// (labs.LabGoMod, the grading tree's: it requires labkit from ../labkit, which
// is /labkit in the lab image), every path validated. The go.mod wins over a
// learner's own, as it does when grading.
func sandboxWorkspace(lab *faultline.Lab, files []faultline.File) ([]faultline.File, error) {
	if len(files) > faultline.MaxWorkspaceFiles {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "A workspace may hold at most %d files.", faultline.MaxWorkspaceFiles)
	}
	all := faultline.MergeFiles(lab.Visible, files)
	if lab.Module != "" {
		all = faultline.MergeFiles(all, []faultline.File{{Path: "go.mod", Content: labs.LabGoMod(lab.Module)}})
	}
	size := 0
	for _, f := range all {
		if _, err := faultline.CleanPath(f.Path); err != nil {
			return nil, err
		}
		size += len(f.Content)
	}
	if size > 2*faultline.MaxWorkspaceSize {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "The workspace is larger than %d MiB.", faultline.MaxWorkspaceSize>>20)
	}
	return all, nil
}

// create runs the image, create, start and files phases and returns the
// running container's ID: a warm container from the pool when there is one
// (then image, create and start are already done), else a new one. What is
// left of the learner's earlier sandbox (its labelled containers and the
// recorded container old) is removed first. On failure nothing is left
// behind.
func (m *Manager) create(ctx context.Context, userID int64, lab *faultline.Lab, old string, files []faultline.File, report func(faultline.SandboxPhase)) (string, error) {
	archive, err := tarFiles(files)
	if err != nil {
		return "", err
	}
	if err := m.removeContainers(ctx, userID, lab.Slug, old); err != nil {
		return "", err
	}
	if s, ok := m.claimWarm(lab); ok {
		report(faultline.PhaseFiles)
		err := s.seed(ctx, archive, len(files))
		if err == nil {
			m.log.Info("sandbox from the warm pool", "user", userID, "lab", lab.Slug, "id", short(s.id))
			return s.id, nil
		}
		m.log.Warn("warm pool: sending the files failed; starting cold", "id", short(s.id), "err", err)
		m.e.removeContainer(s.id)
	}
	release, err := m.starts.acquire()
	if err != nil {
		m.log.Info("sandbox start refused: too many starting", "user", userID, "lab", lab.Slug, "starting", m.starts.inFlight())
		return "", err
	}
	ok := false
	defer func() { release(ok) }()

	report(faultline.PhaseImage)
	image := lab.Image
	if image == "" {
		var err error
		if image, err = m.e.LabImage(ctx, m.opt.Warm); err != nil {
			return "", err
		}
	}

	report(faultline.PhaseCreate)
	lim := withDefaults(faultline.Limits{MemoryMB: m.opt.MemoryMB, CPUs: lab.Limits.CPUs, Pids: lab.Limits.Pids})
	spec := m.sandboxSpec(image, lim, m.opt.MaxLife+poolSlack, map[string]string{
		LabelUser: strconv.FormatInt(userID, 10),
		LabelLab:  lab.Slug,
	})
	if needsNetwork(lab) {
		name, err := m.ensureNetwork(ctx, userID, lab.Slug)
		if err != nil {
			return "", err
		}
		defer func() {
			if !ok {
				m.dropNetwork(userID, lab.Slug)
			}
		}()
		spec.Network = name
	}
	s, err := m.e.launch(ctx, spec, report)
	if err != nil {
		return "", fmt.Errorf("start sandbox user %d lab %q: %w", userID, lab.Slug, err)
	}
	defer func() {
		if !ok {
			m.e.removeContainer(s.id)
		}
	}()

	report(faultline.PhaseFiles)
	if err := s.seed(ctx, archive, len(files)); err != nil {
		return "", err
	}
	ok = true
	return s.id, nil
}

// match returns labels plus the sandbox kind and the Manager's scope.
func (m *Manager) match(labels map[string]string) map[string]string {
	out := map[string]string{LabelKind: KindSandbox}
	if m.opt.Scope != "" {
		out[LabelScope] = m.opt.Scope
	}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// removeContainers removes every sandbox container of (user, lab): those
// labelled for it (cold starts) and recorded, the container the store names
// (a claimed warm container carries the pool's labels, not the learner's;
// "" for none).
func (m *Manager) removeContainers(ctx context.Context, userID int64, lab, recorded string) error {
	if recorded != "" {
		if err := m.e.b.Remove(ctx, recorded); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return fmt.Errorf("remove sandbox user %d lab %q: %w", userID, lab, err)
		}
	}
	cs, err := m.e.listContainers(ctx, m.match(map[string]string{
		LabelUser: strconv.FormatInt(userID, 10),
		LabelLab:  lab,
	}))
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := m.e.b.Remove(ctx, c.ID); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return fmt.Errorf("remove sandbox user %d lab %q: %w", userID, lab, err)
		}
	}
	return nil
}

// restore puts the row of a start refused for being busy back as it was
// (a row the start created becomes stopped: nothing ever ran), on a fresh
// context.
func (m *Manager) restore(sb *faultline.Sandbox, prev faultline.Sandbox) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if prev.State == "" || prev.State == faultline.SandboxStarting || prev.State == faultline.SandboxRunning {
		// Running: its container was not running (else Start returned at
		// once) and create removed whatever was left of it.
		prev.State, prev.ContainerID = faultline.SandboxStopped, ""
	}
	sb.State, sb.Error, sb.ContainerID, sb.UpdatedAt, sb.LastActiveAt = prev.State, prev.Error, prev.ContainerID, m.opt.Now(), time.Time{}
	if err := m.st.UpsertSandbox(ctx, sb); err != nil {
		m.log.Error("record sandbox start refused", "user", sb.UserID, "lab", sb.Lab, "err", err)
	}
}

// markFailed records a failed start with a user-safe reason, on a fresh
// context (the caller's may be what failed).
func (m *Manager) markFailed(sb *faultline.Sandbox, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	msg := "The sandbox could not be started. Try again; if it keeps failing, tell your instructor."
	switch faultline.ErrorCode(cause) {
	case faultline.EINTERNAL:
		m.log.Error("sandbox start failed", "user", sb.UserID, "lab", sb.Lab, "err", cause)
	default:
		msg = faultline.ErrorMessage(cause)
	}
	sb.State, sb.Error, sb.ContainerID, sb.UpdatedAt = faultline.SandboxFailed, msg, "", m.opt.Now()
	if err := m.st.UpsertSandbox(ctx, sb); err != nil {
		m.log.Error("record sandbox failed", "user", sb.UserID, "lab", sb.Lab, "err", err)
	}
}

// Find returns the recorded sandbox; ENOTFOUND if the learner never started
// this lab.
func (m *Manager) Find(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	return m.st.FindSandbox(ctx, userID, lab)
}

// running returns the learner's sandbox if it is recorded as running and its
// container really runs. ENOTFOUND otherwise (a vanished container's row is
// marked stopped); EUNAVAILABLE when the orchestrator is down.
func (m *Manager) running(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	notRunning := faultline.Errorf(faultline.ENOTFOUND, "This lab's sandbox is not running; start it first.")
	sb, err := m.st.FindSandbox(ctx, userID, lab)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, notRunning
	} else if err != nil {
		return nil, fmt.Errorf("find sandbox user %d lab %q: %w", userID, lab, err)
	}
	if sb.State != faultline.SandboxRunning || sb.ContainerID == "" {
		return nil, notRunning
	}
	ok, err := m.e.containerRunning(ctx, sb.ContainerID)
	if err != nil {
		return nil, err
	}
	if !ok {
		sb.State, sb.ContainerID, sb.UpdatedAt = faultline.SandboxStopped, "", m.opt.Now()
		if err := m.st.UpsertSandbox(ctx, sb); err != nil {
			return nil, fmt.Errorf("record vanished sandbox user %d lab %q stopped: %w", userID, lab, err)
		}
		return nil, notRunning
	}
	if err := m.st.TouchSandbox(ctx, sb.ID); err != nil {
		m.log.Warn("touch sandbox", "id", sb.ID, "err", err)
	}
	return sb, nil
}

// WriteFile writes f into /work of the learner's running sandbox. EINVALID
// for a bad path, ETOOLARGE over faultline.MaxFileSize, ENOTFOUND when no
// sandbox is running, EUNAVAILABLE when the orchestrator is down.
func (m *Manager) WriteFile(ctx context.Context, userID int64, lab string, f faultline.File) error {
	p, err := faultline.CleanPath(f.Path)
	if err != nil {
		return err
	}
	if len(f.Content) > faultline.MaxFileSize {
		return faultline.Errorf(faultline.ETOOLARGE, "File %q is larger than %d KiB.", p, faultline.MaxFileSize>>10)
	}
	sb, err := m.running(ctx, userID, lab)
	if err != nil {
		return err
	}
	return m.e.writeFiles(ctx, sb.ContainerID, WorkDir, []faultline.File{{Path: p, Content: f.Content}})
}

// RunTests runs `go test -json -count=1 .` in /work of the learner's running
// sandbox, bounded by the lab's time limit, streams the raw output to out
// (may be nil; the first 4 MiB) and scores the lab's visible tests. A time
// limit hit or a build failure is a Result status, not an error. ENOTFOUND
// when no sandbox is running, EUNAVAILABLE when the orchestrator is down.
func (m *Manager) RunTests(ctx context.Context, userID int64, lab *faultline.Lab, out io.Writer) (*faultline.Result, error) {
	if lab == nil {
		return nil, faultline.Errorf(faultline.EINVALID, "No lab given.")
	}
	sb, err := m.running(ctx, userID, lab.Slug)
	if err != nil {
		return nil, err
	}
	limit := lab.Limits.Time
	if limit <= 0 {
		limit = faultline.DefaultGradeLimits.Time
	}
	secs := int(math.Ceil(limit.Seconds()))
	// go test's own -timeout stops the test binary with a stack dump; the
	// outer timeout kills a build or a binary that ignores it.
	cmd := []string{"timeout", "-s", "KILL", strconv.Itoa(secs + 15),
		"go", "test", "-json", "-count=1", "-timeout=" + strconv.Itoa(secs) + "s", "."}

	var visible []faultline.LabTest
	for _, t := range lab.Tests {
		if !t.Hidden {
			visible = append(visible, t)
		}
	}
	pr, pw := io.Pipe()
	scored := make(chan *faultline.Result, 1)
	scan := &eventScan{}
	go func() {
		res := testjson.Score(io.TeeReader(pr, scan), visible)
		_, _ = io.Copy(io.Discard, pr)
		scored <- res
	}()
	stream := &streamWriter{score: pw, out: out, outLeft: maxTestStream, scoreLeft: maxTestStream}

	ectx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	start := time.Now()
	code, err := m.e.exec(ectx, sb.ContainerID, cmd, WorkDir, stream)
	pw.Close()
	res := <-scored
	if err != nil {
		return nil, err
	}
	res.Lab = lab.Slug
	res.Duration = time.Since(start)
	switch {
	case code == 137 || code == 124 || strings.Contains(res.Output, "panic: test timed out after"):
		res.Status = faultline.StatusTimeLimit
		res.Message = fmt.Sprintf("The tests did not finish within %s.", limit)
	case scan.buildFailed:
		res.Status = faultline.StatusBuildFailed
		res.Message = "The code does not compile; see the output."
	default:
		res.Message = fmt.Sprintf("%d of %d points from the visible tests.", res.Score, res.MaxScore)
	}
	return res, nil
}

// streamWriter forwards exec output to the caller and to the scorer, each up
// to a cap, and never fails (so the exec stream keeps draining).
type streamWriter struct {
	score     *io.PipeWriter
	out       io.Writer
	outLeft   int
	scoreLeft int
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.out != nil && w.outLeft > 0 {
		n := min(len(p), w.outLeft)
		if _, err := w.out.Write(p[:n]); err != nil {
			w.out = nil // the viewer went away; keep running for the score
		}
		w.outLeft -= n
	}
	if w.scoreLeft > 0 {
		n := min(len(p), w.scoreLeft)
		if _, err := w.score.Write(p[:n]); err != nil {
			w.scoreLeft = 0
		} else {
			w.scoreLeft -= n
		}
	}
	return len(p), nil
}

// eventScan notices a `go test -json` build failure event. Learner output
// cannot forge it: test output arrives inside "output" events.
type eventScan struct {
	partial     []byte
	buildFailed bool
}

func (s *eventScan) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		if bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"Action":"build-fail"`)) {
			s.buildFailed = true
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 {
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

// Stop removes the learner's container and marks the sandbox stopped; saved
// files live in the database and are unaffected. ENOTFOUND if the learner
// never started this lab; EUNAVAILABLE when the orchestrator is down.
func (m *Manager) Stop(ctx context.Context, userID int64, lab string) error {
	defer m.lock(userID, lab)()
	sb, err := m.st.FindSandbox(ctx, userID, lab)
	if err != nil {
		return err
	}
	if err := m.removeContainers(ctx, userID, lab, sb.ContainerID); err != nil {
		return err
	}
	if err := m.removeNetwork(ctx, userID, lab); err != nil {
		return err
	}
	if sb.State == faultline.SandboxStopped && sb.ContainerID == "" {
		return nil
	}
	sb.State, sb.ContainerID, sb.Error, sb.UpdatedAt = faultline.SandboxStopped, "", "", m.opt.Now()
	if err := m.st.UpsertSandbox(ctx, sb); err != nil {
		return fmt.Errorf("record sandbox stopped user %d lab %q: %w", userID, lab, err)
	}
	return nil
}

// Reconcile brings the orchestrator and the store in step, at portal start:
// sandbox containers (of the Manager's Scope, when set) the store does not
// know as running are removed, and rows recorded as running or starting
// whose container is gone or not running are marked stopped. It returns how many containers it removed and how many
// rows it marked stopped; EUNAVAILABLE when the orchestrator is down.
func (m *Manager) Reconcile(ctx context.Context) (removed, stopped int, err error) {
	cs, err := m.e.listContainers(ctx, m.match(nil))
	if err != nil {
		return 0, 0, err
	}
	rows, err := m.st.ListSandboxes(ctx, faultline.SandboxRunning, faultline.SandboxStarting)
	if err != nil {
		return 0, 0, fmt.Errorf("reconcile: list sandboxes: %w", err)
	}
	live := map[string]bool{} // running container IDs
	for _, c := range cs {
		if c.Running {
			live[c.ID] = true
		}
	}
	keep := map[string]bool{}
	keepNets := map[string]bool{} // "user/lab" of the sandboxes kept
	for _, sb := range rows {
		if sb.State == faultline.SandboxRunning && live[sb.ContainerID] {
			keep[sb.ContainerID] = true
			keepNets[storeKeyOf(sb.UserID, sb.Lab)] = true
			continue
		}
		sb.State, sb.ContainerID, sb.UpdatedAt = faultline.SandboxStopped, "", m.opt.Now()
		if err := m.st.UpsertSandbox(ctx, sb); err != nil {
			return removed, stopped, fmt.Errorf("reconcile: mark sandbox %d stopped: %w", sb.ID, err)
		}
		stopped++
	}
	for _, c := range cs {
		if keep[c.ID] || m.inPool(c.ID) {
			continue
		}
		if err := m.e.b.Remove(ctx, c.ID); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return removed, stopped, fmt.Errorf("reconcile: %w", err)
		}
		m.log.Info("removed orphan sandbox", "id", short(c.ID), "user", c.Labels[LabelUser], "lab", c.Labels[LabelLab])
		removed++
	}
	if _, err := m.removeOrphanNetworks(ctx, keepNets); err != nil {
		return removed, stopped, err
	}
	return removed, stopped, nil
}

// Reap stops running sandboxes whose LastActiveAt is more than idle ago
// (DESIGN.md: idle reaping, default 10 minutes) unless a process in them is
// busy on the CPU (which counts as activity), and those that reached
// their hard lifetime cap (StopsAt) however active they are, and returns
// how many it stopped. Saved work lives in the database, so nothing is lost.
// EUNAVAILABLE when the orchestrator is down.
func (m *Manager) Reap(ctx context.Context, idle time.Duration) (int, error) {
	rows, err := m.st.ListSandboxes(ctx, faultline.SandboxRunning)
	if err != nil {
		return 0, fmt.Errorf("reap: list sandboxes: %w", err)
	}
	now := m.opt.Now()
	cutoff := now.Add(-idle)
	n := 0
	for _, sb := range rows {
		idled := sb.LastActiveAt.Before(cutoff)
		stop := m.StopsAt(sb)
		expired := !stop.IsZero() && !now.Before(stop)
		if !idled && !expired {
			continue
		}
		if idled && !expired {
			// No editor, terminal or test activity, but perhaps a process
			// the learner left running (a long test, a server): busy
			// counts as activity.
			busy, err := m.e.busy(ctx, sb.ContainerID)
			if err != nil {
				m.log.Warn("reap: could not tell whether the sandbox is busy; reaping it as idle", "user", sb.UserID, "lab", sb.Lab, "err", err)
			} else if busy {
				if err := m.st.TouchSandbox(ctx, sb.ID); err != nil {
					return n, fmt.Errorf("reap: touch busy sandbox user %d lab %q: %w", sb.UserID, sb.Lab, err)
				}
				continue
			}
		}
		if err := m.Stop(ctx, sb.UserID, sb.Lab); err != nil {
			return n, fmt.Errorf("reap sandbox user %d lab %q: %w", sb.UserID, sb.Lab, err)
		}
		if expired {
			m.log.Info("stopped sandbox at its lifetime cap", "user", sb.UserID, "lab", sb.Lab, "running_since", sb.UpdatedAt, "max_life", m.opt.MaxLife)
		} else {
			m.log.Info("reaped idle sandbox", "user", sb.UserID, "lab", sb.Lab, "last_active", sb.LastActiveAt)
		}
		n++
	}
	return n, nil
}

// StopsAt returns when Reap stops a running sandbox whatever its activity:
// MaxLife after it started running. The start is the row's UpdatedAt, which
// the store stamps when the row becomes running and which nothing changes
// while it runs (activity moves LastActiveAt only). Zero for a sandbox that
// is not running.
func (m *Manager) StopsAt(sb *faultline.Sandbox) time.Time {
	if sb == nil || sb.State != faultline.SandboxRunning || sb.UpdatedAt.IsZero() {
		return time.Time{}
	}
	return sb.UpdatedAt.Add(m.opt.MaxLife)
}

// MaxLife returns the hard cap on a sandbox's life.
func (m *Manager) MaxLife() time.Duration { return m.opt.MaxLife }
