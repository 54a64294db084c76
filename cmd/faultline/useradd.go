package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// passwordCost is the bcrypt cost of passwords set from the command line.
const passwordCost = 12

func runUserAdd(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "display name (required)")
	admin := fs.Bool("admin", false, "make the account an admin")
	instructor := fs.Bool("instructor", false, "make the account an instructor")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder of the portal (env FAULTLINE_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return usageErr("user add: %v", err)
	}
	if *email == "" || *name == "" || fs.NArg() > 0 {
		return usageErr("user add needs --email and --name; the password is read from stdin")
	}
	if *admin && *instructor {
		return usageErr("user add: choose --admin or --instructor, not both")
	}
	role := faultline.RoleLearner
	if *admin {
		role = faultline.RoleAdmin
	} else if *instructor {
		role = faultline.RoleInstructor
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "Password (at least 10 characters, shown as typed): ")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	*email = strings.ToLower(strings.TrimSpace(*email))
	*name = strings.TrimSpace(*name)
	if err := faultline.ValidateAccount(*name, *email); err != nil {
		return fmt.Errorf("%s", describe(err))
	}
	if err := faultline.ValidatePassword(password, password); err != nil {
		return fmt.Errorf("%s", describe(err))
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "faultline.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	u := &faultline.User{Email: *email, Name: *name, Role: role, PasswordHash: string(hash)}
	if err := db.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("%s", describe(err))
	}
	fmt.Fprintf(stdout, "added %s <%s> as %s (id %d)\n", u.Name, u.Email, u.Role, u.ID)
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
