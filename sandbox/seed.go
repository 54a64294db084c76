package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Seeding. A sandbox container's main process takes the learner's workspace
// on its stdin: it unpacks one tar stream into WorkDir, prints seedReady,
// and only then becomes the container's long sleep (its backstop). The
// Manager attaches to the container before starting it, so the workspace
// goes in over a connection that is already open, with no exec: an exec
// costs a round of create, start, attach and inspect calls, which was most
// of a warm start and all of a cold start's time beyond the bare create and
// start. A warm container waits in the pool with its attachment open and an
// empty stdin; the files it gets later (saves, resets) still go in by
// Backend.CopyIn.

// seedReady is the line a sandbox container prints once its workspace is
// unpacked.
const seedReady = "##faultline workspace ready"

// seedScript unpacks stdin into $1 (as the sandbox user: ownership in the
// archive ignored), says $2, and sleeps $3 seconds. A stdin that ends before
// a whole archive came (the attachment broke) fails tar, so the container
// ends rather than run with a partial workspace.
const seedScript = `tar -x -o -f - -C "$1" && echo "$2" && exec sleep "$3"`

// seedCmd is the main process of a sandbox container living at most life.
func seedCmd(life time.Duration) []string {
	return []string{"sh", "-c", seedScript, "seed", WorkDir, seedReady, strconv.Itoa(int(life.Seconds()))}
}

// seeding is a sandbox container that was created, attached and started,
// and waits for its workspace.
type seeding struct {
	id      string
	started time.Time // when Start returned (the backstop runs from about then)
	stdin   *io.PipeWriter
	ready   *gateWatch // sees seedReady
	out     *capWriter // what else it printed (tar's complaints)
	att     backend.Attachment
}

// launch creates a container from spec (which must ask for stdin), attaches
// to it and starts it, reporting PhaseStart (when report is not nil) once it
// is created. On failure nothing is left behind. The attachment lives on its
// own context: a warm container waits longer than any caller.
func (e *Engine) launch(ctx context.Context, spec backend.Spec, report func(faultline.SandboxPhase)) (*seeding, error) {
	id, err := e.b.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	if report != nil {
		report(faultline.PhaseStart)
	}
	pr, pw := io.Pipe()
	s := &seeding{id: id, stdin: pw, ready: newGateWatch(seedReady), out: &capWriter{limit: 4 << 10}}
	if s.att, err = e.b.Attach(context.WithoutCancel(ctx), id, pr, io.MultiWriter(s.out, s.ready)); err != nil {
		pw.Close()
		e.removeContainer(id)
		return nil, err
	}
	if err := e.b.Start(ctx, id); err != nil {
		s.close()
		e.removeContainer(id)
		return nil, err
	}
	s.started = time.Now()
	return s, nil
}

// alive reports whether the container's main process has not ended yet, as
// far as its attachment knows.
func (s *seeding) alive() bool {
	select {
	case <-s.att.Done():
		return false
	default:
		return true
	}
}

// close ends the attachment and the stdin (the process, if it still waits
// for its workspace, then fails and the container ends).
func (s *seeding) close() {
	s.stdin.CloseWithError(io.ErrClosedPipe)
	_ = s.att.Close()
}

// seed sends archive (tarFiles' of n files) as the container's workspace
// and waits until it says the workspace is unpacked. Either way the
// attachment is closed when it returns; on failure the caller removes the
// container.
func (s *seeding) seed(ctx context.Context, archive []byte, n int) error {
	defer s.close()
	go func() {
		_, err := io.Copy(s.stdin, bytes.NewReader(archive))
		s.stdin.CloseWithError(err) // nil: the archive's end
	}()
	select {
	case <-s.ready.seen:
		return nil
	case <-s.att.Done():
		select {
		case <-s.ready.seen: // said so just before its output ended
			return nil
		default:
		}
		// The output ended without the line: the process failed (or
		// ended). What it said is all there is to go on.
		msg := strings.TrimSpace(string(s.out.bytes()))
		if msg == "" {
			msg = "it ended without a word"
		}
		return fmt.Errorf("write %d files into %s: %s", n, short(s.id), msg)
	case <-ctx.Done():
		return fmt.Errorf("write %d files into %s: %w", n, short(s.id), ctx.Err())
	}
}
