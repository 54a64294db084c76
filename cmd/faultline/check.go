package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
)

// runLabsCheck grades every lab (or the --lab ones) through the real
// grader and prints, lab by lab as it goes: the rule → test table, then one
// line per variant as soon as its runs are graded, with failures explained
// below it. It fails when a rule has no test or a variant is unsound.
func runLabsCheck(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("labs check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("lab", "", "check only these labs (comma-separated slugs)")
	runs := fs.Int("runs", grader.DefaultCheckRuns, "grade each variant this many times; verdicts must agree")
	parallel := fs.Int("parallel", runtime.NumCPU(), "grades to run at once")
	host := fs.Bool("host", false, "grade on the host with the go command instead of in containers (fast; for an author's own labs only)")
	cfg.registerCatalogFlags(fs)
	cfg.registerDockerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr("labs check: %v", err)
	}
	if fs.NArg() > 0 || *runs < 1 || *parallel < 1 {
		return usageErr("labs check takes [--lab SLUG[,SLUG]] [--runs N>=1] [--parallel N>=1] [--host] and no arguments")
	}
	_, catalog, err := loadCatalogs(cfg)
	if err != nil {
		return err
	}
	todo, err := pickLabs(catalog, *slug)
	if err != nil {
		return err
	}
	var g faultline.Grader = grader.HostGrader{}
	where := "on the host"
	if !*host {
		eg, closeEngine, err := newGrader(ctx, cfg, catalog, logger)
		if err != nil {
			return err
		}
		defer closeEngine()
		g, where = eg, "in grading containers"
	}

	start := time.Now()
	fmt.Fprintf(stdout, "labs check: %d labs, each variant graded %d times %s, %d grades at a time\n", len(todo), *runs, where, *parallel)
	type summary struct {
		lab      string
		variants int
		problems []string
		took     time.Duration
	}
	var sums []summary
	var failed []string
	for _, lab := range todo {
		labStart := time.Now()
		parts := ""
		if len(lab.Parts) > 0 {
			parts = fmt.Sprintf(", %d parts", len(lab.Parts))
		}
		fmt.Fprintf(stdout, "\n== %s: %d rules, %d tests%s, %d variants\n", lab.Slug, len(lab.Rules), len(lab.Tests), parts, 2+len(lab.Mutants))
		for _, line := range labs.RuleTable(lab) {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		var problems []string
		if len(lab.Rules) == 0 {
			// Until every built-in lab numbers its rules, a lab without
			// rule ids is reported but does not fail the check.
			fmt.Fprintf(stdout, "  note: labs/%s/README.md marks no rules yet (**R1** …); they cannot be checked\n", lab.Slug)
		} else {
			problems = grader.CheckRules(lab)
		}
		for _, p := range problems {
			fmt.Fprintf(stdout, "  FAIL: %s\n", p)
		}
		rep, err := grader.CheckWith(ctx, g, lab, grader.CheckOptions{
			Runs: *runs, Parallel: *parallel,
			Progress: func(row grader.CheckRow) { printCheckRow(stdout, row) },
		})
		if err != nil {
			return fmt.Errorf("check %s: %s", lab.Slug, describe(err))
		}
		for _, row := range rep.Rows {
			if !row.OK {
				problems = append(problems, row.Variant+": "+row.Reason)
			}
		}
		s := summary{lab: lab.Slug, variants: len(rep.Rows), problems: problems, took: time.Since(labStart)}
		verdict := "ok"
		if len(problems) > 0 {
			verdict = fmt.Sprintf("FAIL (%d problems)", len(problems))
			failed = append(failed, lab.Slug)
		}
		fmt.Fprintf(stdout, "%s: %s in %s\n", lab.Slug, verdict, s.took.Round(time.Second))
		sums = append(sums, s)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tVARIANTS\tTOOK\tRESULT")
	for _, s := range sums {
		res := "ok"
		if len(s.problems) > 0 {
			res = strings.Join(s.problems, "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.lab, s.variants, s.took.Round(time.Second), res)
	}
	tw.Flush()
	if len(failed) > 0 {
		return fmt.Errorf("labs check failed for %s", strings.Join(failed, ", "))
	}
	fmt.Fprintf(stdout, "labs check: %d labs ok in %s (%d runs per variant, stable)\n", len(todo), time.Since(start).Round(time.Second), *runs)
	return nil
}

// pickLabs returns the labs named in a comma-separated list, or all.
func pickLabs(catalog *labs.Catalog, slugs string) ([]*faultline.Lab, error) {
	if slugs == "" {
		return catalog.All(), nil
	}
	var out []*faultline.Lab
	for _, s := range strings.Split(slugs, ",") {
		lab, err := catalog.Lab(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s (known labs: %s)", faultline.ErrorMessage(err), labSlugs(catalog))
		}
		out = append(out, lab)
	}
	return out, nil
}

// printCheckRow prints one variant's line and, when it is unsound, why.
func printCheckRow(w io.Writer, row grader.CheckRow) {
	same := fmt.Sprintf("%d/%d same", row.Runs, row.Runs)
	if !row.Stable {
		same = "FLIPS"
	}
	verdict := "ok"
	if !row.OK {
		verdict = "FAIL: " + row.Reason
	}
	caught := ""
	if row.OK && len(row.Caught) > 0 {
		caught = " by " + strings.Join(row.Caught, ", ")
		if len(caught) > 90 {
			caught = caught[:89] + "…"
		}
	}
	fmt.Fprintf(w, "  %-32s %3d/%-3d %-12s %-9s %5.1fs/grade  %s%s\n", row.Variant, row.Score, row.MaxScore, row.Status, same, row.PerGrade.Seconds(), verdict, caught)
	if len(row.Parts) > 0 {
		var ps []string
		for _, p := range row.Parts {
			ps = append(ps, fmt.Sprintf("%s %d/%d", p.ID, p.Score, p.MaxScore))
		}
		fmt.Fprintf(w, "      parts: %s\n", strings.Join(ps, ", "))
	}
	for _, d := range row.Details {
		fmt.Fprintf(w, "      %s\n", d)
	}
}
