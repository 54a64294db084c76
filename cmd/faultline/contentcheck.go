package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/labs"
)

// runContentCheck loads the course and the labs (the built-in ones, or
// --content-dir and --labs-dir) and checks them against each other. It prints
// every problem, one per line, naming the file: front matter, diagrams that
// fail to render, quiz errors and links between lessons and cases (all found
// by content.Load), labs named by lessons or linked from them that do not
// exist, lessons named by labs that do not exist, lab READMEs that do not
// render (a diagram that cannot be drawn), and links in lab READMEs to
// lessons, cases or labs that do not exist. Once everything loads, it
// compiles every ```go block of the lessons and case studies and runs the
// blocks marked as examples (content.CheckSnippets; --compile=false skips
// this on a machine without the go command).
func runContentCheck(cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("content check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.registerCatalogFlags(fs)
	compile := fs.Bool("compile", true, "compile the ```go blocks and run their examples (needs the go command)")
	if err := fs.Parse(args); err != nil {
		return usageErr("content check: %v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("content check takes [--content-dir DIR] [--labs-dir DIR] [--compile=false] and no arguments")
	}
	contentFS, labsFS := catalogFS(cfg)
	cc, cerr := content.Load(contentFS)
	lc, lerr := labs.Load(labsFS)
	var problems []string
	for _, e := range []struct {
		what string
		err  error
	}{{"content", cerr}, {"labs", lerr}} {
		if e.err == nil {
			continue
		}
		if faultline.ErrorCode(e.err) == faultline.EINTERNAL {
			return fmt.Errorf("load %s: %w", e.what, e.err)
		}
		// Load reports every problem on its own line after a summary line.
		lines := strings.Split(faultline.ErrorMessage(e.err), "\n")
		if len(lines) > 1 {
			lines = lines[1:]
		}
		problems = append(problems, lines...)
	}
	if cc != nil && lc != nil {
		problems = append(problems, crossCheck(cc, lc)...)
	}
	var snippets *content.SnippetReport
	if cc != nil && len(problems) == 0 && *compile {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		var err error
		if snippets, err = content.CheckSnippets(ctx, cc.Snippets()); err != nil {
			return fmt.Errorf("content check: %w", err)
		}
		problems = append(problems, snippets.Problems...)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		return fmt.Errorf("content check found %d problem(s)", len(problems))
	}
	quizzes := 0
	for _, l := range append(cc.Lessons(), cc.Cases()...) {
		quizzes += len(l.Quiz)
	}
	code := "Go blocks not compiled"
	if snippets != nil {
		code = fmt.Sprintf("%d Go blocks compiled, %d examples run, %d fragments", snippets.Compiled, snippets.Examples, snippets.Fragments)
	}
	fmt.Fprintf(stdout, "content check: %d lessons in %d modules, %d case studies, %d quiz questions, %s, %d labs ok\n",
		len(cc.Lessons()), len(cc.Modules()), len(cc.Cases()), quizzes, code, len(lc.All()))
	return nil
}

// crossCheck compares the course with the labs.
func crossCheck(cc *content.Catalog, lc *labs.Catalog) []string {
	var problems []string
	known := labSlugs(lc)
	for _, ref := range cc.LabRefs() {
		if _, err := lc.Lab(ref.Lab); err == nil {
			continue
		}
		if ref.Link {
			problems = append(problems, fmt.Sprintf("%s: body: link to /labs/%s points to no lab (known: %s)", ref.File, ref.Lab, known))
		} else {
			problems = append(problems, fmt.Sprintf("%s: labs: unknown lab %q (known: %s)", ref.File, ref.Lab, known))
		}
	}
	for _, lab := range lc.All() {
		file := "labs/" + lab.Slug + "/lab.yaml"
		for _, s := range lab.Lessons {
			if _, err := cc.Lesson(s); err != nil {
				problems = append(problems, fmt.Sprintf("%s: lessons: unknown lesson %q", file, s))
			}
		}
		if _, err := content.Render([]byte(lab.README)); err != nil {
			problems = append(problems, fmt.Sprintf("labs/%s/README.md: cannot render: %v", lab.Slug, err))
		}
		for _, dest := range content.Links([]byte(lab.README)) {
			p, _, _ := strings.Cut(dest, "#")
			for _, prefix := range []string{"/lessons/", "/cases/", "/labs/"} {
				slug, ok := strings.CutPrefix(p, prefix)
				if !ok {
					continue
				}
				var err error
				if prefix == "/labs/" {
					_, err = lc.Lab(slug)
				} else if l, lerr := cc.Lesson(slug); lerr != nil {
					err = lerr
				} else if (l.Kind == content.KindCase) != (prefix == "/cases/") {
					err = fmt.Errorf("wrong kind")
				}
				if err != nil {
					problems = append(problems, fmt.Sprintf("labs/%s/README.md: link %q points to no %s", lab.Slug, dest, strings.Trim(prefix, "/s")))
				}
			}
		}
	}
	return problems
}
