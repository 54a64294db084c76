package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
)

// busyShare is the share of one CPU a sandbox's processes must use, over
// the engine's sampling interval (about a second), for the sandbox to count
// as busy: a learner's long test run or server in the terminal keeps the
// sandbox alive through idle reaping, an idle shell does not.
const busyShare = 0.05

// busy reports whether the container's processes are using the CPU now. It
// asks the engine for one stats sample, which the engine takes over about a
// second, so callers ask only about sandboxes that are otherwise idle.
func (e *Engine) busy(ctx context.Context, id string) (bool, error) {
	resp, err := e.cli.ContainerStats(ctx, id, false)
	if err != nil {
		return false, e.fail("stats of container "+short(id), err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return false, fmt.Errorf("stats of container %s: %w", short(id), err)
	}
	return cpuBusy(s), nil
}

// cpuBusy applies busyShare to one stats sample. A sample without a
// previous reading (the container just started) says nothing and is idle.
func cpuBusy(s container.StatsResponse) bool {
	if s.PreRead.IsZero() || !s.Read.After(s.PreRead) || s.CPUStats.CPUUsage.TotalUsage < s.PreCPUStats.CPUUsage.TotalUsage {
		return false
	}
	used := time.Duration(s.CPUStats.CPUUsage.TotalUsage - s.PreCPUStats.CPUUsage.TotalUsage)
	return used.Seconds() >= busyShare*s.Read.Sub(s.PreRead).Seconds()
}
