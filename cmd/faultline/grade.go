package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/sandbox"
)

func runGrade(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("lab", "", "slug of the lab to grade against (required)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	run := fs.String("run", "", "replay: run only the tests this go test -run pattern matches (with --seed), as a failure's Reproduce line says")
	seed := fs.String("seed", "", "replay: the LABKIT_SEED of the run to replay (with --run)")
	cfg.registerCatalogFlags(fs)
	cfg.registerDockerFlags(fs)
	// Flags may come before or after DIR.
	if err := fs.Parse(args); err != nil {
		return usageErr("grade: %v", err)
	}
	var dirs []string
	for fs.NArg() > 0 {
		dirs = append(dirs, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return usageErr("grade: %v", err)
		}
	}
	if *slug == "" || len(dirs) != 1 {
		return usageErr("grade needs --lab SLUG and exactly one DIR, e.g. faultline grade --lab circuit-breaker ./mywork")
	}
	var rp *faultline.Repro
	if *run != "" || *seed != "" {
		n, err := strconv.ParseInt(*seed, 10, 64)
		if err != nil || *run == "" {
			return usageErr("a replay needs both --run PATTERN and --seed N (an integer), e.g. --run '^TestX$/^seed=42$' --seed 42")
		}
		rp = &faultline.Repro{Run: *run, Seed: n}
		if err := rp.Validate(); err != nil {
			return usageErr("%s", faultline.ErrorMessage(err))
		}
	}
	_, catalog, err := loadCatalogs(cfg)
	if err != nil {
		return err
	}
	lab, err := catalog.Lab(*slug)
	if err != nil {
		return fmt.Errorf("%s (known labs: %s)", faultline.ErrorMessage(err), labSlugs(catalog))
	}
	files, err := ReadDir(dirs[0])
	if err != nil {
		return err
	}
	g, closeEngine, err := newGrader(ctx, cfg, catalog, logger)
	if err != nil {
		return err
	}
	defer closeEngine()
	var res *faultline.Result
	if rp != nil {
		res, err = g.Replay(ctx, lab, files, *rp)
	} else {
		res, err = g.Grade(ctx, lab, files)
	}
	if err != nil {
		return fmt.Errorf("could not grade: %s", describe(err))
	}
	if *asJSON {
		return writeJSONResult(stdout, lab, res)
	}
	writeTextResult(stdout, lab, res)
	return nil
}

// newEngine returns the sandbox engine on the container backend cfg names
// (the Docker engine at cfg.DockerHost, or a Kubernetes namespace with
// -backend kubernetes). It does not contact the backend.
func newEngine(cfg Config, logger *slog.Logger) (*sandbox.Engine, error) {
	b, err := newBackend(cfg, logger)
	if err != nil {
		return nil, err
	}
	return sandbox.New(b, logger), nil
}

// newGrader connects to the engine and returns a grader for the catalog.
func newGrader(ctx context.Context, cfg Config, catalog *labs.Catalog, logger *slog.Logger) (*grader.Grader, func(), error) {
	e, err := newEngine(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	if err := e.Ping(ctx); err != nil {
		e.Close()
		return nil, nil, fmt.Errorf("%s", describe(err))
	}
	g := grader.New(e, grader.Options{Warm: catalog.StdImports(), Runtime: cfg.Runtime, BuildCPUs: float64(cfg.BuildCPUs), Logger: logger})
	return g, func() { e.Close() }, nil
}

// describe turns an error into one line for the terminal.
func describe(err error) string {
	if faultline.ErrorCode(err) != faultline.EINTERNAL {
		return faultline.ErrorMessage(err)
	}
	return err.Error()
}

func labSlugs(c *labs.Catalog) string {
	var s []string
	for _, l := range c.All() {
		s = append(s, l.Slug)
	}
	return strings.Join(s, ", ")
}

// ReadDir reads the learner files under dir for grading: regular files only
// (symlinks and other special files are refused, never followed), hidden
// entries skipped, paths validated and caps enforced.
func ReadDir(dir string) ([]faultline.File, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%q is not a folder", dir)
	}
	var files []faultline.File
	total := 0
	root := os.DirFS(dir)
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (symlinks and devices are not graded)", filepath.Join(dir, p))
		}
		if _, err := faultline.CleanPath(p); err != nil {
			return errors.New(faultline.ErrorMessage(err))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > faultline.MaxFileSize {
			return fmt.Errorf("%s is larger than %d KiB", p, faultline.MaxFileSize>>10)
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		total += len(b)
		files = append(files, faultline.File{Path: p, Content: b})
		if len(files) > faultline.MaxWorkspaceFiles || total > faultline.MaxWorkspaceSize {
			return fmt.Errorf("%s has more than %d files or %d MiB", dir, faultline.MaxWorkspaceFiles, faultline.MaxWorkspaceSize>>20)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no files to grade", dir)
	}
	return files, nil
}

// jsonResult is the machine-readable result, shaped like the results files of
// Gradescope and PrairieLearn autograders.
type jsonResult struct {
	Lab      string     `json:"lab"`
	Status   string     `json:"status"`
	Score    int        `json:"score"`
	MaxScore int        `json:"max_score"`
	Message  string     `json:"message,omitempty"`
	Output   string     `json:"output,omitempty"`
	Flags    []string   `json:"flags,omitempty"`
	Parts    []jsonPart `json:"parts,omitempty"` // a lab with parts: the score of each
	Tests    []jsonTest `json:"tests"`
}

type jsonPart struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Score    int    `json:"score"`
	MaxScore int    `json:"max_score"`
}

type jsonTest struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Score    int    `json:"score"`
	MaxScore int    `json:"max_score"`
	Message  string `json:"message,omitempty"`
	Output   string `json:"output,omitempty"`
	Hidden   bool   `json:"hidden,omitempty"`
	Part     string `json:"part,omitempty"`
}

func writeJSONResult(w io.Writer, lab *faultline.Lab, r *faultline.Result) error {
	out := jsonResult{Lab: r.Lab, Status: string(r.Status), Score: r.Score, MaxScore: r.MaxScore,
		Message: r.Message, Output: r.Output, Flags: r.Flags, Tests: []jsonTest{}}
	partOf := map[string]string{}
	for _, t := range lab.Tests {
		partOf[t.Name] = t.Part
	}
	for _, p := range lab.PartScores(r.Tests) {
		out.Parts = append(out.Parts, jsonPart{ID: p.ID, Title: p.Title, Score: p.Score, MaxScore: p.MaxScore})
	}
	for _, t := range r.Tests {
		out.Tests = append(out.Tests, jsonTest{Name: t.Name, Status: string(t.Status), Score: t.Score,
			MaxScore: t.MaxScore, Message: t.Message, Output: t.Output, Hidden: t.Hidden, Part: partOf[t.Name]})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeTextResult(w io.Writer, lab *faultline.Lab, r *faultline.Result) {
	fmt.Fprintf(w, "%s: %s, %d/%d points\n", r.Lab, r.Status, r.Score, r.MaxScore)
	for _, p := range lab.PartScores(r.Tests) {
		fmt.Fprintf(w, "  part %s, %s: %d/%d points\n", p.ID, p.Title, p.Score, p.MaxScore)
	}
	if r.Message != "" {
		fmt.Fprintf(w, "%s\n", r.Message)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTEST\tSTATUS\tPOINTS\tMESSAGE")
	for _, t := range r.Tests {
		msg, _, _ := strings.Cut(t.Message, "\n")
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", t.Name, t.Status, t.Score, t.MaxScore, msg)
	}
	tw.Flush()
	if r.Status == faultline.StatusBuildFailed && r.Output != "" {
		fmt.Fprintf(w, "\n%s\n", r.Output)
	}
	for _, f := range r.Flags {
		fmt.Fprintf(w, "flag: %s\n", f)
	}
}
