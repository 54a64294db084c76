package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// runLabsMutate generates mutants of each lab's solution with go/ast
// operators, grades them (through the real grader, or with --host on the
// host), and prints per lab the mutation score, the survivors with their
// ids, and whether every hand-written mutant is still caught. It fails when
// a lab scores below --min, a hand-written mutant survives, or an
// equivalent.yaml mark is stale or wrong.
func runLabsMutate(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("labs mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parallel := fs.Int("parallel", runtime.NumCPU(), "grades to run at once")
	host := fs.Bool("host", false, "grade on the host with the go command instead of in containers (fast; for an author's own labs only)")
	minScore := fs.Float64("min", 90, "fail when a lab's mutation score (percent) is below this")
	list := fs.Bool("list", false, "list the generated mutants and their ids without grading them")
	only := fs.String("only", "", "grade only mutants whose id contains one of these comma-separated texts")
	cfg.registerCatalogFlags(fs)
	cfg.registerDockerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr("labs mutate: %v", err)
	}
	if *parallel < 1 {
		return usageErr("labs mutate takes [--parallel N>=1] [--host] [--min PERCENT] [--list] [--only TEXT] [LAB...]")
	}
	_, catalog, err := loadCatalogs(cfg)
	if err != nil {
		return err
	}
	todo, err := pickLabs(catalog, strings.Join(fs.Args(), ","))
	if err != nil {
		return err
	}
	var g faultline.Grader = grader.HostGrader{FailFast: true}
	if !*host && !*list {
		eg, closeEngine, err := newGrader(ctx, cfg, catalog, logger)
		if err != nil {
			return err
		}
		defer closeEngine()
		g = eg
	}

	start := time.Now()
	where := "in grading containers"
	if *host {
		where = "on the host (go test -failfast)"
	}
	if !*list {
		fmt.Fprintf(stdout, "labs mutate: %d labs, graded %s, %d at a time\n", len(todo), where, *parallel)
	}
	type summary struct {
		lab                   string
		rep                   *grader.MutationReport
		handCaught, handTotal int
		problems              []string
	}
	var sums []summary
	var failed []string
	for _, lab := range todo {
		tc, err := grader.NewTypeChecker(ctx, lab)
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v; mutants that do not compile will be graded and counted as such\n", err)
			tc = nil
		}
		mutants, err := grader.GenerateMutants(lab, tc)
		if err != nil {
			return err
		}
		if *only != "" {
			var keep []grader.Mutant
			for _, m := range mutants {
				for _, o := range strings.Split(*only, ",") {
					if o != "" && strings.Contains(m.ID, o) {
						keep = append(keep, m)
						break
					}
				}
			}
			mutants = keep
		}
		broken := 0
		for _, m := range mutants {
			if m.Broken != "" {
				broken++
			}
		}
		if *list {
			for _, m := range mutants {
				state := ""
				if m.Broken != "" {
					state = "  [does not compile: " + m.Broken + "]"
				} else if why := lab.Equivalent[m.ID]; why != "" {
					state = "  [equivalent: " + why + "]"
				} else if why := lab.Unreachable[m.ID]; why != "" {
					state = "  [unreachable: " + why + "]"
				}
				fmt.Fprintf(stdout, "%s  %s:%d  %s%s\n", m.ID, m.File, m.Line, m.Desc, state)
			}
			continue
		}
		fmt.Fprintf(stdout, "\n== %s: %d mutants (%d do not compile and are not graded), %d hand-written\n", lab.Slug, len(mutants), broken, len(lab.Mutants))
		step := max(len(mutants)/10, 1)
		rep, err := grader.Mutate(ctx, g, lab, mutants, grader.MutateOptions{
			Parallel: *parallel,
			Progress: func(done, total int, r grader.MutantResult) {
				if done%step == 0 || done == total {
					fmt.Fprintf(stdout, "  %d/%d graded, %s\n", done, total, time.Since(start).Round(time.Second))
				}
			},
		})
		if err != nil {
			return fmt.Errorf("mutate %s: %s", lab.Slug, describe(err))
		}
		s := summary{lab: lab.Slug, rep: rep}
		if rep.Score() < *minScore {
			s.problems = append(s.problems, fmt.Sprintf("score %.1f%% is below %.0f%%", rep.Score(), *minScore))
		}
		for _, id := range rep.MarkedButKilled {
			s.problems = append(s.problems, "equivalent.yaml marks "+id+", but a test kills it: remove the mark")
		}
		if *only == "" {
			for _, id := range rep.Stale {
				s.problems = append(s.problems, "equivalent.yaml marks "+id+", which no mutant has any more: remove the mark")
			}
		}
		// The hand-written mutants must still be caught.
		names := make([]string, 0, len(lab.Mutants))
		for n := range lab.Mutants {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			r, err := g.Grade(ctx, lab, lab.Mutants[n])
			if err != nil {
				return fmt.Errorf("mutate %s: grade mutant %s: %s", lab.Slug, n, describe(err))
			}
			s.handTotal++
			switch {
			case r.Status == faultline.StatusBuildFailed:
				s.problems = append(s.problems, "hand-written mutant "+n+" does not compile (faultline labs check shows why)")
			case r.Score < r.MaxScore || r.Status != faultline.StatusGraded:
				s.handCaught++
			default:
				s.problems = append(s.problems, "hand-written mutant "+n+" is not caught")
			}
		}
		printMutation(stdout, lab, rep)
		fmt.Fprintf(stdout, "  hand-written mutants: %d of %d caught\n", s.handCaught, s.handTotal)
		for _, p := range s.problems {
			fmt.Fprintf(stdout, "  FAIL: %s\n", p)
		}
		if len(s.problems) > 0 {
			failed = append(failed, lab.Slug)
		}
		sums = append(sums, s)
	}
	if *list {
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tSCORE\tKILLED\tSURVIVED\tEQUIVALENT\tNOT COMPILING\tHAND-WRITTEN\tTOOK")
	for _, s := range sums {
		r := s.rep
		fmt.Fprintf(tw, "%s\t%.1f%%\t%d\t%d\t%d\t%d\t%d/%d\t%s\n", s.lab, r.Score(), r.Killed, r.Survived, r.Equivalent, r.Stillborn, s.handCaught, s.handTotal, r.Took.Round(time.Second))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "labs mutate: %d labs in %s\n", len(todo), time.Since(start).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("labs mutate failed for %s", strings.Join(failed, ", "))
	}
	return nil
}

// printMutation prints a lab's score and its survivors.
func printMutation(w io.Writer, lab *faultline.Lab, rep *grader.MutationReport) {
	fmt.Fprintf(w, "%s: mutation score %.1f%%: %d of %d killed; %d marked equivalent; %d do not compile; in %s\n",
		lab.Slug, rep.Score(), rep.Killed, rep.Killed+rep.Survived, rep.Equivalent, rep.Stillborn, rep.Took.Round(time.Second))
	explained := 0
	for _, r := range rep.Results {
		if r.Verdict == grader.Survived && r.Reason != "" {
			explained++
		}
	}
	if explained > 0 {
		fmt.Fprintf(w, "  %d of the %d survivors are marked unreachable (they still count against the score)\n", explained, rep.Survived)
	}
	for _, r := range rep.Results {
		if r.Verdict != grader.Survived {
			continue
		}
		fmt.Fprintf(w, "  survived  %s:%d  %s\n            id %s\n", r.File, r.Line, r.Desc, r.ID)
		if r.Reason != "" {
			fmt.Fprintf(w, "            marked unreachable: %s\n", r.Reason)
		}
	}
}
