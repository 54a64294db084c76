package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

func runLabsCheck(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("labs check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("lab", "", "check only this lab")
	runs := fs.Int("runs", 3, "grade each variant this many times; verdicts must agree")
	cfg.registerCatalogFlags(fs)
	cfg.registerDockerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr("labs check: %v", err)
	}
	if fs.NArg() > 0 || *runs < 1 {
		return usageErr("labs check takes [--lab SLUG] [--runs N>=1] and no arguments")
	}
	_, catalog, err := loadCatalogs(cfg)
	if err != nil {
		return err
	}
	todo := catalog.All()
	if *slug != "" {
		lab, err := catalog.Lab(*slug)
		if err != nil {
			return fmt.Errorf("%s (known labs: %s)", faultline.ErrorMessage(err), labSlugs(catalog))
		}
		todo = []*faultline.Lab{lab}
	}
	g, closeEngine, err := newGrader(ctx, cfg, catalog, logger)
	if err != nil {
		return err
	}
	defer closeEngine()

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tVARIANT\tSCORE\tSTATUS\tSTABLE\tOK")
	var failed []string
	for _, lab := range todo {
		rep, err := grader.Check(ctx, g, lab, *runs)
		if err != nil {
			return fmt.Errorf("check %s: %s", lab.Slug, describe(err))
		}
		for _, row := range rep.Rows {
			ok := "ok"
			if !row.OK {
				ok = "FAIL: " + row.Reason
				failed = append(failed, lab.Slug+"/"+row.Variant)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%v\t%s\n", lab.Slug, row.Variant, row.Score, row.MaxScore, row.Status, row.Stable, ok)
		}
	}
	tw.Flush()
	if len(failed) > 0 {
		return fmt.Errorf("labs check failed for %s", strings.Join(failed, ", "))
	}
	fmt.Fprintf(stdout, "labs check: %d labs ok\n", len(todo))
	return nil
}
