package sandbox

import (
	"context"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// The warm pool: containers of the lab image created and started ahead of
// time, with the sandbox limits and an empty workspace, so "Start lab" only
// has to claim one and send the files in on the stdin it waits on (seed.go).
// Every lab shares the lab image, so one pool serves them all. A pool container carries LabelPool. Claiming one
// changes nothing on the container (Docker cannot relabel a container,
// Kubernetes cannot rename a Pod): the claim is recorded in the store, where
// the learner's sandbox row names it by ID, which is how Stop, Reconcile and
// everything else find it from then on; an unrecorded warm container is
// removed at the next RunPool or Reconcile.

// LabelPool marks a warm-pool container ("1").
const LabelPool = "faultline.pool"

// poolRetry is how long the pool waits after a failed fill (orchestrator down).
const poolRetry = 10 * time.Second

// RunPool keeps ManagerOptions.PoolSize warm containers ready until ctx ends,
// refilling in the background after each claim. Warm containers left by an
// earlier run are removed first (they may be from an older image). It
// returns nil when ctx ends; with PoolSize 0 it returns at once.
func (m *Manager) RunPool(ctx context.Context) error {
	if m.opt.PoolSize <= 0 {
		return nil
	}
	m.removeStalePool(ctx)
	for {
		if err := m.fillPool(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("warm pool: fill failed; retrying", "err", err, "in", poolRetry)
			select {
			case <-ctx.Done():
			case <-time.After(poolRetry):
			}
		}
		select {
		case <-ctx.Done():
			m.drainPool()
			return nil
		case <-m.poolKick:
		case <-time.After(time.Minute): // replace pool containers that died
		}
	}
}

// PoolReady returns how many warm containers are ready now.
func (m *Manager) PoolReady() int {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	return len(m.pool)
}

// fillPool creates warm containers until the pool is full, dropping ones
// that stopped running.
func (m *Manager) fillPool(ctx context.Context) error {
	m.poolMu.Lock()
	var dead []*seeding
	live := m.pool[:0]
	for _, s := range m.pool {
		if s.alive() {
			live = append(live, s)
		} else {
			dead = append(dead, s)
		}
	}
	m.pool = live
	m.poolMu.Unlock()
	for _, s := range dead {
		s.close()
		m.e.removeContainer(s.id)
	}
	for m.PoolReady() < m.opt.PoolSize {
		if ctx.Err() != nil {
			return nil
		}
		s, err := m.createWarm(ctx)
		if err != nil {
			return err
		}
		m.poolMu.Lock()
		m.pool = append(m.pool, s)
		m.poolMu.Unlock()
	}
	return nil
}

// poolLimits are the limits warm containers are made with; a lab whose
// limits differ starts cold.
func (m *Manager) poolLimits() faultline.Limits {
	return withDefaults(faultline.Limits{MemoryMB: m.opt.MemoryMB})
}

// createWarm creates and starts one warm container, waiting for its
// workspace.
func (m *Manager) createWarm(ctx context.Context) (*seeding, error) {
	image, err := m.e.LabImage(ctx, m.opt.Warm)
	if err != nil {
		return nil, err
	}
	return m.e.launch(ctx, m.sandboxSpec(image, m.poolLimits(), m.warmLife(), map[string]string{LabelPool: "1"}), nil)
}

// claim takes a warm container for a learner's start of lab, if the pool
// has one that fits and still waits for its workspace; ok is false when the
// caller must start cold. The caller seeds it and records the claim in the
// store.
func (m *Manager) claim(lab *faultline.Lab) (s *seeding, ok bool) {
	if m.opt.PoolSize <= 0 || lab.Image != "" || withDefaults(faultline.Limits{MemoryMB: m.opt.MemoryMB, CPUs: lab.Limits.CPUs, Pids: lab.Limits.Pids}) != m.poolLimits() {
		return nil, false
	}
	for {
		m.poolMu.Lock()
		if len(m.pool) == 0 {
			m.poolMu.Unlock()
			return nil, false
		}
		s = m.pool[0]
		m.pool = m.pool[1:]
		m.poolMu.Unlock()
		m.kickPool()
		// A warm container's backstop (its sleep of warmLife) runs from
		// when it entered the pool: one too old to outlive MaxLife once
		// claimed would stop before the time the lab page shows.
		if !s.alive() || m.opt.Now().Add(m.opt.MaxLife+poolSlack).After(s.started.Add(m.warmLife())) {
			s.close()
			m.e.removeContainer(s.id)
			continue
		}
		return s, true
	}
}

// poolSlack is how much longer than MaxLife a sandbox container's own
// backstop runs (its sleep, which ends it should the portal be down).
const poolSlack = 10 * time.Minute

// warmLife is a warm container's backstop: twice MaxLife, so it can wait in
// the pool for up to MaxLife before it is too old to claim.
func (m *Manager) warmLife() time.Duration { return 2*m.opt.MaxLife + poolSlack }

func (m *Manager) kickPool() {
	select {
	case m.poolKick <- struct{}{}:
	default:
	}
}

// inPool reports whether id is a warm container this Manager holds.
func (m *Manager) inPool(id string) bool {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	for _, s := range m.pool {
		if s.id == id {
			return true
		}
	}
	return false
}

// drainPool removes the warm containers (at shutdown).
func (m *Manager) drainPool() {
	m.poolMu.Lock()
	pool := m.pool
	m.pool = nil
	m.poolMu.Unlock()
	for _, s := range pool {
		s.close()
		m.e.removeContainer(s.id)
	}
}

// removeStalePool removes unclaimed warm containers of this scope left by an
// earlier run (a claimed one was renamed and is recorded in the store, and
// Reconcile handles it).
func (m *Manager) removeStalePool(ctx context.Context) {
	cs, err := m.e.listContainers(ctx, m.match(map[string]string{LabelPool: "1"}))
	if err != nil {
		m.log.Warn("warm pool: list stale", "err", err)
		return
	}
	rows, err := m.st.ListSandboxes(ctx, faultline.SandboxRunning, faultline.SandboxStarting)
	if err != nil {
		m.log.Warn("warm pool: list sandboxes", "err", err)
		return
	}
	claimed := map[string]bool{}
	for _, sb := range rows {
		claimed[sb.ContainerID] = true
	}
	for _, c := range cs {
		if !claimed[c.ID] && !m.inPool(c.ID) {
			m.e.removeContainer(c.ID)
		}
	}
}

// sandboxSpec is the container spec every sandbox gets, warm or cold: its
// main process takes the workspace on stdin (seed.go). life is the
// container's own backstop: it exits after that long should the portal not
// stop it first.
func (m *Manager) sandboxSpec(image string, lim faultline.Limits, life time.Duration, labels map[string]string) backend.Spec {
	return backend.Spec{
		Image:    image,
		Cmd:      seedCmd(life),
		Stdin:    true,
		WorkDir:  WorkDir,
		Hostname: "lab",
		Labels:   m.e.labels(m.match(labels)),
		MemoryMB: lim.MemoryMB,
		CPUs:     lim.CPUs,
		Pids:     lim.Pids,
		Tmpfs: []backend.Tmpfs{
			{Path: "/tmp", SizeMB: sandboxTmpMB},
			{Path: WorkDir, SizeMB: sandboxWorkMB},
		},
		Init:    true,
		Runtime: m.opt.Runtime,
	}
}

// Engine returns the engine the Manager runs sandboxes on.
func (m *Manager) Engine() *Engine { return m.e }

// Scope returns the scope the Manager's sandboxes carry ("" for none).
func (m *Manager) Scope() string { return m.opt.Scope }
