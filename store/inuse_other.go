//go:build !unix

package store

import "github.com/faultline-dev/faultline"

// databaseInUse cannot tell on this system whether another process has the
// database open, so it refuses to guess.
func databaseInUse(path string) (bool, error) {
	return false, faultline.Errorf(faultline.EINVALID, "Restore can only check that the portal is stopped on Unix systems.")
}
