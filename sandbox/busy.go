package sandbox

import (
	"context"

	"github.com/faultline-dev/faultline/sandbox/backend"
)

// busyShare is the share of one CPU a sandbox's processes must use, over
// the backend's sampling interval (about a second), for the sandbox to count
// as busy: a learner's long test run or server in the terminal keeps the
// sandbox alive through idle reaping, an idle shell does not.
const busyShare = 0.05

// busy reports whether the container's processes are using the CPU now. It
// asks the backend for one sample, which takes about a second, so callers
// ask only about sandboxes that are otherwise idle.
func (e *Engine) busy(ctx context.Context, id string) (bool, error) {
	s, err := e.b.CPU(ctx, id)
	if err != nil {
		return false, err
	}
	return cpuBusy(s), nil
}

// cpuBusy applies busyShare to one sample. A sample without an interval
// (the container just started) says nothing and is idle.
func cpuBusy(s backend.CPUSample) bool {
	if s.Interval <= 0 {
		return false
	}
	return s.Used.Seconds() >= busyShare*s.Interval.Seconds()
}
