package sandbox

import (
	"bytes"
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// RemoveFile removes one file from /work of the learner's running sandbox;
// a file that is not there is not an error. EINVALID for a bad path,
// ENOTFOUND when no sandbox is running, EUNAVAILABLE when the engine is down.
func (m *Manager) RemoveFile(ctx context.Context, userID int64, lab, path string) error {
	p, err := faultline.CleanPath(path)
	if err != nil {
		return err
	}
	sb, err := m.running(ctx, userID, lab)
	if err != nil {
		return err
	}
	out := &capWriter{limit: 4 << 10}
	code, err := m.e.exec(ctx, sb.ContainerID, []string{"rm", "-f", "--", p}, WorkDir, out)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("remove %q in %s: rm exited %d: %s", p, short(sb.ContainerID), code, bytes.TrimSpace(out.bytes()))
	}
	return nil
}
