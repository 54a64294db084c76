package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// Config is everything the portal is started with: flags, with FAULTLINE_*
// environment variables as defaults. It is passed in, never global.
type Config struct {
	Addr          string        // listen address
	DataDir       string        // SQLite database and other state
	BaseURL       string        // public URL, for invite links; derived from the listener when empty
	DockerHost    string        // Docker engine; "" means DOCKER_HOST or the default socket
	Backend       BackendConfig // docker (default) or kubernetes (kube.go)
	ContentDir    string        // lessons that add to or replace the built-in ones
	LabsDir       string        // labs that add to or replace the built-in ones
	Workers       int           // grading workers
	Runtime       string        // OCI runtime for sandboxes and grading ("" = engine default)
	BuildCPUs     int           // CPUs a grade compiles with before the lab's limit applies (0 = the machine's)
	BuildCacheMiB int           // bound of the test binaries grading keeps in DataDir (0 = none kept)
	SecureCookies bool          // Secure cookies (on when BaseURL is https)
	ShutdownGrace time.Duration // how long SIGTERM waits for requests and grading
	PoolSize      int           // warm sandbox containers kept ready
	IdleTimeout   time.Duration // a sandbox with no activity this long is stopped
	MaxLife       time.Duration // a sandbox running this long is stopped however active (a warning shows first)
	MaxStarts     int           // cold sandbox starts running at once; more are told to retry
	// Fairness bounds one learner's share: waiting submissions, replays
	// and storage for saved versions (zero fields: the defaults).
	Fairness   faultline.Fairness
	StorageMiB int // -storage-mib: Fairness.StorageBytes in MiB

	Inst InstitutionConfig // email, single sign-on, LTI (institution_config.go)

	envErrs []string // FAULTLINE_* values that did not parse, reported by Validate
}

// DefaultConfig returns the defaults, overridden by FAULTLINE_* variables in env.
func DefaultConfig(getenv func(string) string) Config {
	d := faultline.DefaultFairness
	c := Config{
		Fairness:      d,
		StorageMiB:    int(d.StorageBytes >> 20),
		Addr:          "localhost:8080",
		DataDir:       "data",
		Workers:       1,
		ShutdownGrace: 30 * time.Second,
		PoolSize:      2,
		IdleTimeout:   10 * time.Minute,
		MaxLife:       12 * time.Hour,
		MaxStarts:     4,
		BuildCacheMiB: grader.DefaultBuildCacheMB,
	}
	str := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str(&c.Addr, "FAULTLINE_ADDR")
	str(&c.DataDir, "FAULTLINE_DATA_DIR")
	str(&c.BaseURL, "FAULTLINE_BASE_URL")
	str(&c.DockerHost, "FAULTLINE_DOCKER_HOST")
	str(&c.ContentDir, "FAULTLINE_CONTENT_DIR")
	str(&c.LabsDir, "FAULTLINE_LABS_DIR")
	str(&c.Runtime, "FAULTLINE_RUNTIME")
	num := func(dst *int, key string) {
		if v := getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				c.envErrs = append(c.envErrs, fmt.Sprintf("%s=%q is not a whole number", key, v))
				return
			}
			*dst = n
		}
	}
	num(&c.Workers, "FAULTLINE_WORKERS")
	num(&c.PoolSize, "FAULTLINE_POOL")
	num(&c.BuildCPUs, "FAULTLINE_BUILD_CPUS")
	num(&c.BuildCacheMiB, "FAULTLINE_BUILD_CACHE_MIB")
	num(&c.MaxStarts, "FAULTLINE_MAX_STARTS")
	num(&c.Fairness.MaxWaiting, "FAULTLINE_MAX_WAITING")
	num(&c.Fairness.ReplaysPerHour, "FAULTLINE_REPLAYS_PER_HOUR")
	num(&c.Fairness.ReplaySlots, "FAULTLINE_REPLAY_SLOTS")
	num(&c.StorageMiB, "FAULTLINE_STORAGE_MIB")
	dur := func(dst *time.Duration, key, example string) {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				c.envErrs = append(c.envErrs, fmt.Sprintf("%s=%q is not a duration such as %s", key, v, example))
				return
			}
			*dst = d
		}
	}
	dur(&c.IdleTimeout, "FAULTLINE_IDLE_TIMEOUT", "10m")
	dur(&c.MaxLife, "FAULTLINE_MAX_LIFE", "12h")
	c.institutionFromEnv(getenv)
	c.Backend.fromEnv(getenv)
	return c
}

// registerCatalogFlags adds the flags of every subcommand that loads the catalogs.
func (c *Config) registerCatalogFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ContentDir, "content-dir", c.ContentDir, "folder of lessons/ and cases/ that add to or replace the built-in course, file by file (env FAULTLINE_CONTENT_DIR)")
	fs.StringVar(&c.LabsDir, "labs-dir", c.LabsDir, "folder of labs that add to or replace the built-in ones, lab by lab (env FAULTLINE_LABS_DIR)")
}

func (c *Config) registerDockerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DockerHost, "docker-host", c.DockerHost, "Docker engine address, e.g. unix:///var/run/docker.sock (env FAULTLINE_DOCKER_HOST; default DOCKER_HOST or the local socket)")
	fs.StringVar(&c.Runtime, "runtime", c.Runtime, "OCI runtime for sandboxes and grading, e.g. runsc (env FAULTLINE_RUNTIME)")
	c.Backend.registerFlags(fs)
}

// registerServeFlags adds the serve flags.
func (c *Config) registerServeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env FAULTLINE_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data folder for the database (env FAULTLINE_DATA_DIR)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public URL of the portal, for invite links (env FAULTLINE_BASE_URL)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "grading workers (env FAULTLINE_WORKERS)")
	fs.IntVar(&c.BuildCPUs, "build-cpus", c.BuildCPUs, "CPUs a grade may use while it compiles, before any learner code runs; the tests then run at the lab's limit (0: all the machine's; 1 keeps grading at one CPU throughout; Kubernetes and gVisor always use the lab's limit) (env FAULTLINE_BUILD_CPUS)")
	fs.IntVar(&c.BuildCacheMiB, "build-cache-mib", c.BuildCacheMiB, "on Docker, grading keeps the test binaries of the files it compiled in <data-dir>/build-cache, so a grade of files graded before (a resubmission, a regrade, a replay) compiles nothing; this many MiB at most, the least recently used go first (0: keep none, compile every grade) (env FAULTLINE_BUILD_CACHE_MIB)")
	fs.IntVar(&c.PoolSize, "pool", c.PoolSize, "warm sandbox containers kept ready for a fast \"Start lab\" (env FAULTLINE_POOL; 0 turns the pool off)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "stop a sandbox after this long without editor, terminal or test activity; saved files stay (env FAULTLINE_IDLE_TIMEOUT)")
	fs.DurationVar(&c.MaxLife, "max-life", c.MaxLife, "stop a sandbox this long after it started, however active, warning on the lab page first; saved files stay (env FAULTLINE_MAX_LIFE; at most 12h)")
	fs.IntVar(&c.MaxStarts, "max-starts", c.MaxStarts, "sandbox starts that may run at once; beyond it learners are told to retry in a few seconds (env FAULTLINE_MAX_STARTS)")
	fs.IntVar(&c.Fairness.MaxWaiting, "max-waiting", c.Fairness.MaxWaiting, "submissions one learner may have waiting in the grading queue; more are refused with a retry time (env FAULTLINE_MAX_WAITING)")
	fs.IntVar(&c.Fairness.ReplaysPerHour, "replays-per-hour", c.Fairness.ReplaysPerHour, "replays of a failing run one learner may start in an hour (env FAULTLINE_REPLAYS_PER_HOUR)")
	fs.IntVar(&c.Fairness.ReplaySlots, "replay-slots", c.Fairness.ReplaySlots, "replays that run at once on the portal; one learner holds at most one (env FAULTLINE_REPLAY_SLOTS)")
	fs.IntVar(&c.StorageMiB, "storage-mib", c.StorageMiB, "MiB of saved file versions each learner may keep; past it old versions are thinned, then saves refused (env FAULTLINE_STORAGE_MIB)")
	c.registerCatalogFlags(fs)
	c.registerDockerFlags(fs)
	c.registerInstitutionFlags(fs)
}

// buildCacheDir is where grading keeps test binaries (grader.Options
// BuildCacheDir), or "" to keep none: with -build-cache-mib 0, and on
// Kubernetes, whose container output comes through its logs, not byte for
// byte.
func (c *Config) buildCacheDir() string {
	if c.BuildCacheMiB == 0 || (c.Backend.Name != "" && c.Backend.Name != "docker") {
		return ""
	}
	return filepath.Join(c.DataDir, "build-cache")
}

// Validate checks the config and fills derived fields.
func (c *Config) Validate() error {
	if len(c.envErrs) > 0 {
		return fmt.Errorf("%s", strings.Join(c.envErrs, "; "))
	}
	if c.PoolSize < 0 || c.PoolSize > 100 {
		return fmt.Errorf("-pool must be between 0 and 100, got %d", c.PoolSize)
	}
	if c.BuildCacheMiB < 0 || (c.BuildCacheMiB > 0 && c.BuildCacheMiB < 256) {
		return fmt.Errorf("-build-cache-mib must be 0 (keep no test binaries) or at least 256 (one graded tree's test binaries take about 6), got %d", c.BuildCacheMiB)
	}
	if c.BuildCPUs < 0 || c.BuildCPUs > 1024 {
		return fmt.Errorf("-build-cpus must be between 0 (all the machine's) and 1024, got %d", c.BuildCPUs)
	}
	if c.IdleTimeout < time.Minute {
		return fmt.Errorf("-idle-timeout must be at least 1m, got %s", c.IdleTimeout)
	}
	// Zero (a Config built by hand) takes the defaults.
	if c.MaxLife == 0 {
		c.MaxLife = 12 * time.Hour
	}
	if c.MaxStarts == 0 {
		c.MaxStarts = 4
	}
	if c.MaxLife < time.Minute || c.MaxLife > 12*time.Hour {
		return fmt.Errorf("-max-life must be between 1m and 12h, got %s", c.MaxLife)
	}
	if c.MaxStarts < 1 || c.MaxStarts > 64 {
		return fmt.Errorf("-max-starts must be between 1 and 64, got %d", c.MaxStarts)
	}
	if c.Fairness.MaxWaiting < 0 || c.Fairness.MaxWaiting > 1000 {
		return fmt.Errorf("-max-waiting must be between 1 and 1000, got %d", c.Fairness.MaxWaiting)
	}
	if c.Fairness.ReplaysPerHour < 0 || c.Fairness.ReplaysPerHour > 10000 {
		return fmt.Errorf("-replays-per-hour must be between 1 and 10000, got %d", c.Fairness.ReplaysPerHour)
	}
	if c.Fairness.ReplaySlots < 0 || c.Fairness.ReplaySlots > 64 {
		return fmt.Errorf("-replay-slots must be between 1 and 64, got %d", c.Fairness.ReplaySlots)
	}
	if c.StorageMiB < 0 || c.StorageMiB > 1<<20 {
		return fmt.Errorf("-storage-mib must be between 1 and 1048576, got %d", c.StorageMiB)
	}
	if c.StorageMiB > 0 {
		c.Fairness.StorageBytes = int64(c.StorageMiB) << 20
	}
	c.Fairness = c.Fairness.WithDefaults()
	if c.Addr == "" {
		return fmt.Errorf("-addr must not be empty")
	}
	if c.DataDir == "" {
		return fmt.Errorf("-data-dir must not be empty")
	}
	if c.Workers < 1 || c.Workers > 64 {
		return fmt.Errorf("-workers must be between 1 and 64, got %d", c.Workers)
	}
	// An empty BaseURL is derived from the listener once it is open.
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("-base-url must start with http:// or https://, got %q", c.BaseURL)
	}
	if strings.HasPrefix(c.BaseURL, "https://") {
		c.SecureCookies = true
	}
	if err := c.validateInstitution(); err != nil {
		return err
	}
	for _, d := range []struct{ flag, dir string }{{"-content-dir", c.ContentDir}, {"-labs-dir", c.LabsDir}} {
		if d.dir == "" {
			continue
		}
		if st, err := os.Stat(d.dir); err != nil || !st.IsDir() {
			return fmt.Errorf("%s %q is not a folder", d.flag, d.dir)
		}
	}
	return nil
}
