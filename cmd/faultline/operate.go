package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// runBackup copies the portal's database to a new file while it may be
// serving (SQLite's online backup: one consistent snapshot, writers never
// wait).
func runBackup(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder of the portal (env FAULTLINE_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return usageErr("backup: %v", err)
	}
	if fs.NArg() != 1 {
		return usageErr("backup needs one argument, the new backup file: faultline backup [--data-dir D] FILE")
	}
	src := filepath.Join(cfg.DataDir, "faultline.db")
	start := time.Now()
	info, err := store.Backup(ctx, src, fs.Arg(0), store.BackupOptions{})
	if err != nil {
		return fmt.Errorf("backup of %s: %s", src, describe(err))
	}
	fmt.Fprintf(stdout, "backed up %s to %s: %s, %d accounts, %d submissions, schema version %d, integrity ok (%s)\n",
		src, info.Path, sizeOf(info.Bytes), info.Users, info.Submissions, info.SchemaVersion, time.Since(start).Round(time.Millisecond))
	return nil
}

// runRestore puts a backup in place of the portal's database, keeping the
// database it replaces. The portal must be stopped.
func runRestore(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder of the portal (env FAULTLINE_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return usageErr("restore: %v", err)
	}
	if fs.NArg() != 1 {
		return usageErr("restore needs one argument, the backup file: faultline restore [--data-dir D] FILE")
	}
	dst := filepath.Join(cfg.DataDir, "faultline.db")
	res, err := store.Restore(ctx, fs.Arg(0), dst, store.RestoreOptions{})
	if err != nil {
		return fmt.Errorf("restore of %s: %s", dst, describe(err))
	}
	fmt.Fprintf(stdout, "restored %s from %s: %s, %d accounts, %d submissions, schema version %d\n",
		dst, res.From.Path, sizeOf(res.From.Bytes), res.From.Users, res.From.Submissions, res.From.SchemaVersion)
	if len(res.KeptAs) == 0 {
		fmt.Fprintf(stdout, "there was no database at %s before\n", dst)
	}
	for _, p := range res.KeptAs {
		fmt.Fprintf(stdout, "kept the replaced file as %s\n", p)
	}
	fmt.Fprintln(stdout, "start the portal to use it; a backup from an older version is brought up to date at start")
	return nil
}

func sizeOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
