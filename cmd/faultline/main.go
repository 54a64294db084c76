// Command faultline runs the Faultline portal and its tools.
//
//	faultline serve                       start the portal
//	faultline grade --lab SLUG [--json] DIR   grade a folder as a submission would be
//	faultline labs check [--lab SLUG]     grade every lab's solution, starter and mutants
//	faultline content check               check lessons, cases and labs link up
//	faultline user add --email E --name N [--admin|--instructor]   add an account
//	faultline backup FILE | restore FILE | down   the operator's tools (operate.go)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Faultline: learn distributed-system design patterns by doing.

Usage:
  faultline serve [flags]                      start the portal (see: faultline serve -h)
  faultline grade --lab SLUG [--json] DIR      grade DIR exactly as a submission is graded
  faultline labs check [--lab SLUG] [--runs N] grade every lab's solution, starter and mutants
  faultline content check                      check lessons, case studies and labs
  faultline user add --email E --name N [--admin | --instructor]
                                               add an account (password read from stdin)
  faultline backup [--data-dir D] FILE         copy the database to FILE, also while the portal serves
  faultline restore [--data-dir D] FILE        put a backup in place (portal stopped; the old database is kept)
  faultline down [--data-dir D]                remove every container and network of this portal (stopped); saved work stays
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// errUsage marks errors that are the caller's wording; they exit 2.
var errUsage = errors.New("usage")

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// The portal logs what it does; the one-shot tools only what went wrong.
	level := slog.LevelWarn
	if args[0] == "serve" {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := DefaultConfig(getenv)
	var err error
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "serve":
		err = runServe(ctx, cfg, rest, stderr, logger)
	case cmd == "grade":
		err = runGrade(ctx, cfg, rest, stdout, stderr, logger)
	case cmd == "labs" && len(rest) > 0 && rest[0] == "check":
		err = runLabsCheck(ctx, cfg, rest[1:], stdout, stderr, logger)
	case cmd == "content" && len(rest) > 0 && rest[0] == "check":
		err = runContentCheck(cfg, rest[1:], stdout, stderr)
	case cmd == "user" && len(rest) > 0 && rest[0] == "add":
		err = runUserAdd(ctx, cfg, rest[1:], stdin, stdout, stderr)
	case cmd == "backup":
		err = runBackup(ctx, cfg, rest, stdout, stderr)
	case cmd == "restore":
		err = runRestore(ctx, cfg, rest, stdout, stderr)
	case cmd == "down":
		err = runDown(ctx, cfg, rest, stdout, stderr, logger)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "faultline: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "faultline: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "faultline: %v\n", err)
		return 1
	}
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}
