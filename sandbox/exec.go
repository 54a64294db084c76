package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// exec runs cmd in dir ("" for the container's) of the running container
// id, with its combined output to out (nil discards), and returns its exit
// status. The command may outlive ctx: commands that may run long bound
// themselves (e.g. with timeout).
func (e *Engine) exec(ctx context.Context, id string, cmd []string, dir string, out io.Writer) (int, error) {
	return e.b.Exec(ctx, id, backend.ExecSpec{Cmd: cmd, WorkDir: dir, Stdout: out, Stderr: out})
}

// tarFiles returns a tar of files (paths validated with faultline.CleanPath)
// with parent directories, owned by the sandbox user.
func tarFiles(files []faultline.File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	now := time.Now()
	for _, f := range files {
		p, err := faultline.CleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if len(f.Content) > faultline.MaxFileSize {
			return nil, faultline.Errorf(faultline.ETOOLARGE, "File %q is larger than %d KiB.", p, faultline.MaxFileSize>>10)
		}
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: backend.UID, Gid: backend.GID, ModTime: now}); err != nil {
				return nil, fmt.Errorf("tar dir %q: %w", d, err)
			}
		}
		hdr := &tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Content)), Uid: backend.UID, Gid: backend.GID, ModTime: now}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar file %q: %w", p, err)
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, fmt.Errorf("tar file %q: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar close: %w", err)
	}
	return buf.Bytes(), nil
}

// writeFiles copies files into dir of the running container id, in one tar
// stream.
func (e *Engine) writeFiles(ctx context.Context, id, dir string, files []faultline.File) error {
	data, err := tarFiles(files)
	if err != nil {
		return err
	}
	if err := e.b.CopyIn(ctx, id, dir, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %d files: %w", len(files), err)
	}
	return nil
}
