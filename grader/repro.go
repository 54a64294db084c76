package grader

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

var _ faultline.Replayer = (*Grader)(nil)

// traceEnv makes a failing labkit run attach its trace for the trace
// explorer (labkit.TraceEnv; TestTraceEnvMatchesLabkit keeps them in step).
const traceEnv = "LABKIT_TRACE=1"

// reproEnv is what the grading script and labkit read: the pattern (the
// script passes it to the test binaries as -test.run) and the seed.
func reproEnv(rp faultline.Repro) []string {
	return []string{"FL_RUN=" + rp.Run, "LABKIT_SEED=" + strconv.FormatInt(rp.Seed, 10)}
}

// Replay grades files as Grade does, in a fresh container with the same
// limits, but runs only the tests rp.Run matches, with LABKIT_SEED=rp.Seed:
// the exact run a failure report names, against these files. The Result
// lists only the matching tests, scored out of their points. EINVALID for a
// bad pattern; other errors as Grade.
func (g *Grader) Replay(ctx context.Context, lab *faultline.Lab, files []faultline.File, rp faultline.Repro) (*faultline.Result, error) {
	if err := rp.Validate(); err != nil {
		return nil, err
	}
	top := regexp.MustCompile(strings.SplitN(rp.Run, "/", 2)[0]) // validated above
	matches := false
	for _, t := range lab.Tests {
		matches = matches || top.MatchString(t.Name)
	}
	if !matches {
		return nil, faultline.Errorf(faultline.EINVALID, "The pattern %q matches none of the tests of lab %s.", rp.Run, lab.Slug)
	}
	start := time.Now()
	res, err := g.grade(ctx, lab, files, &rp)
	if err != nil {
		g.log.Warn("replay failed", "lab", lab.Slug, "run", rp.Run, "seed", rp.Seed, "err", err)
		return nil, err
	}
	res.Lab = lab.Slug
	res.Duration = time.Since(start)
	kept := res.Tests[:0]
	res.Score, res.MaxScore = 0, 0
	for _, t := range res.Tests {
		if top.MatchString(t.Name) {
			kept = append(kept, t)
			res.Score += t.Score
			res.MaxScore += t.MaxScore
		}
	}
	res.Tests = kept
	if res.Status == faultline.StatusGraded {
		verb := "passed"
		for _, t := range kept {
			if t.Status != faultline.TestPass {
				verb = "failed"
			}
		}
		res.Message = fmt.Sprintf("Replayed %s with seed %d: it %s.", rp.Run, rp.Seed, verb)
	}
	g.log.Info("replayed", "lab", lab.Slug, "run", rp.Run, "seed", rp.Seed, "status", res.Status, "took", res.Duration.Round(time.Millisecond))
	return res, nil
}
