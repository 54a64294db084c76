package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// runDown takes the installation in the data folder off the container
// engine for good: every sandbox, warm and grading container, volume and
// network labelled with its installation id is removed (through the
// sandbox package), and the database records every sandbox as stopped.
// Saved work lives in the database and is not touched; the next `serve`
// starts sandboxes again from it. The portal must be stopped first.
func runDown(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder of the portal (env FAULTLINE_DATA_DIR)")
	cfg.registerDockerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr("down: %v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("down takes no arguments, got %q", fs.Args())
	}
	id, err := existingInstallationID(cfg.DataDir)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(cfg.DataDir, "faultline.db")
	if inUse, err := store.InUse(dbPath); err != nil {
		return fmt.Errorf("down: %w", err)
	} else if inUse {
		return fmt.Errorf("the portal is running on %s (another process has its database open); stop it first, or it starts sandboxes again", cfg.DataDir)
	}
	engine, err := newEngine(cfg, logger)
	if err != nil {
		return err
	}
	defer engine.Close()
	engine.SetScope(id)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := engine.Ping(pctx); err != nil {
		return fmt.Errorf("the container engine does not answer (%s); nothing was removed", describe(err))
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	removed, err := engine.RemoveOrphans(rctx, "", nil)
	if err != nil {
		return fmt.Errorf("removed %d objects of installation %s, then: %s", removed, id, describe(err))
	}
	stopped := 0
	if _, err := os.Stat(dbPath); err == nil {
		db, err := store.Open(dbPath)
		if err != nil {
			return err
		}
		defer db.Close()
		if stopped, err = db.StopAllSandboxes(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "removed %d containers, volumes and networks of installation %s from the engine\n", removed, id)
	fmt.Fprintf(stdout, "marked %d sandboxes stopped in %s; saved work is untouched and comes back at the next start\n", stopped, dbPath)
	return nil
}

// existingInstallationID reads the installation id without making one.
func existingInstallationID(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "installation-id"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s has no installation-id: no portal has run from it, so it owns nothing on the engine", dataDir)
	} else if err != nil {
		return "", fmt.Errorf("read installation id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("%s/installation-id is empty", dataDir)
	}
	return id, nil
}
