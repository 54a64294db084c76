package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline-dev/faultline"
)

// execSpec is one command run inside an existing container.
type execSpec struct {
	Cmd     []string
	WorkDir string
	Env     []string
	Stdin   io.Reader // streamed then closed; nil for none
	Output  io.Writer // combined stdout+stderr; nil discards
}

// exec runs spec in the running container id and returns its exit code.
// There is no way to kill an exec through the API, so commands that may run
// long must bound themselves (e.g. with `timeout`); when ctx ends this only
// stops listening.
func (e *Engine) exec(ctx context.Context, id string, spec execSpec) (int, error) {
	created, err := e.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         "65534:65534",
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          spec.Env,
		WorkingDir:   spec.WorkDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		return -1, e.fail(fmt.Sprintf("exec %q in %s", strings.Join(spec.Cmd, " "), short(id)), err)
	}
	att, err := e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, e.fail(fmt.Sprintf("start exec %q in %s", strings.Join(spec.Cmd, " "), short(id)), err)
	}
	defer att.Close()
	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, spec.Stdin)
			_ = att.CloseWrite()
		}()
	}
	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil {
			return -1, e.fail(fmt.Sprintf("read exec %q output", strings.Join(spec.Cmd, " ")), err)
		}
	case <-ctx.Done():
		att.Close()
		<-done
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("exec %q in %s: %w", strings.Join(spec.Cmd, " "), short(id), ctx.Err())
	}
	// The stream closes a moment before the engine records the exit code.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for {
		info, err := e.cli.ContainerExecInspect(ictx, created.ID)
		if err != nil {
			return -1, e.fail("inspect exec in "+short(id), err)
		}
		if !info.Running {
			return info.ExitCode, nil
		}
		select {
		case <-ictx.Done():
			return -1, fmt.Errorf("exec %q in %s: still running after its output ended", strings.Join(spec.Cmd, " "), short(id))
		case <-time.After(20 * time.Millisecond):
		}
	}
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
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 65534, Gid: 65534, ModTime: now}); err != nil {
				return nil, fmt.Errorf("tar dir %q: %w", d, err)
			}
		}
		hdr := &tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Content)), Uid: 65534, Gid: 65534, ModTime: now}
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

// writeFiles unpacks files into dir of the running container id, by piping a
// tar into `tar -x` (works on read-only roots and tmpfs, unlike the copy API).
func (e *Engine) writeFiles(ctx context.Context, id, dir string, files []faultline.File) error {
	data, err := tarFiles(files)
	if err != nil {
		return err
	}
	out := &capWriter{limit: 4 << 10}
	code, err := e.exec(ctx, id, execSpec{
		Cmd:    []string{"tar", "-x", "-o", "-f", "-", "-C", dir},
		Stdin:  bytes.NewReader(data),
		Output: out,
	})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("write %d files into %s:%s: tar exited %d: %s", len(files), short(id), dir, code, bytes.TrimSpace(out.bytes()))
	}
	return nil
}
