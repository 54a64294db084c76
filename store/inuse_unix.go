//go:build unix

package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// shmDeadManSwitch is the byte of a WAL database's -shm file on which
// every connection that has the database open holds a read lock for as
// long as it is open (SQLite's "DMS" lock; see the WAL-index format,
// https://www.sqlite.org/walformat.html).
const shmDeadManSwitch = 128

// databaseInUse reports whether another process has the WAL database at
// path open: it asks (F_GETLK, which takes no lock) whether a lock is held
// on the dead-man switch of its -shm file. This process's own locks are not
// reported, so call it with the database closed here.
func databaseInUse(path string) (bool, error) {
	f, err := os.Open(path + "-shm")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no process has it open in WAL mode
	} else if err != nil {
		return false, fmt.Errorf("check %s is not in use: %w", path, err)
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: shmDeadManSwitch, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false, fmt.Errorf("check %s is not in use: %w", path, err)
	}
	return lk.Type != syscall.F_UNLCK, nil
}
