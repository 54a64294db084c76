// Package labs holds the Faultline lab catalog: one folder per lab (lab.yaml,
// README.md, starter/, tests/, hidden/, solution/, mutants/<name>/), embedded
// in the binary, and the loader that validates the folders and turns them into
// faultline.Lab values.
package labs

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"golang.org/x/mod/module"

	"github.com/faultline-dev/faultline"
)

// FS holds the lab folders shipped with Faultline. Pass it to Load. A new
// lab needs its folder here and an `ignore ./labs/<slug>` line in go.mod;
// TestEveryLabFolderIsEmbedded fails until both are there.
//
//go:embed all:circuit-breaker all:consistent-hashing
//go:embed all:rate-limiter all:retry-backoff
//go:embed all:pubsub-idempotent all:transactional-outbox
//go:embed all:quorum-kv all:leader-election
//go:embed all:bulkhead all:column-family
//go:embed all:event-sourcing all:saga all:gossip-membership
//go:embed all:crdt all:two-phase-commit
//go:embed all:replicated-log all:raft
var FS embed.FS

// labkitFS holds labkit's sources (its *_test.go files are dropped by Labkit).
//
//go:embed labkit/*.go
var labkitFS embed.FS

// Module layout shared by the grading tree, the learner sandbox and the
// host-side verification: labkit is a module of its own in a folder named
// LabkitDir next to the lab module's folder, and every lab module (and the
// hidden-test module) requires it with a replace to ../labkit. Labs that do
// not import labkit carry the requirement unused, which -mod=mod accepts.
const (
	// LabkitModule is the import path lab code uses for labkit.
	LabkitModule = "faultline.dev/labkit"
	// LabkitDir is labkit's folder, a sibling of the lab module's folder.
	LabkitDir = "labkit"
	// GoVersion is the go line of every synthesized go.mod. It is the same
	// everywhere so the go command never rewrites one to match another, and
	// recent enough for labkit, which is written in this repository's Go.
	GoVersion = "1.26"
)

// labkitRequires are the modules labkit imports, pinned. The repository's
// go.mod must require the same versions (a test checks), and the lab image
// carries them in an offline module proxy.
var labkitRequires = []module.Version{
	{Path: "github.com/anishathalye/porcupine", Version: "v1.3.1"},
}

// LabkitRequires returns the modules labkit requires, sorted by path.
func LabkitRequires() []module.Version {
	return append([]module.Version(nil), labkitRequires...)
}

// Labkit returns labkit as a module tree, paths relative to its folder: a
// go.mod (module LabkitModule, requiring LabkitRequires) and its non-test .go
// files, sorted by path. The slice and contents are the caller's to keep.
func Labkit() []faultline.File {
	files := []faultline.File{{Path: "go.mod", Content: []byte(labkitGoMod())}}
	names, err := fs.Glob(labkitFS, "labkit/*.go")
	if err != nil {
		panic(fmt.Sprintf("labs: glob embedded labkit: %v", err)) // the pattern is constant
	}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := labkitFS.ReadFile(n)
		if err != nil {
			panic(fmt.Sprintf("labs: read embedded %s: %v", n, err)) // embedded files are always readable
		}
		files = append(files, faultline.File{Path: strings.TrimPrefix(n, "labkit/"), Content: b})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files
}

func labkitGoMod() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n", LabkitModule, GoVersion)
	for _, r := range labkitRequires {
		fmt.Fprintf(&b, "\nrequire %s %s\n", r.Path, r.Version)
	}
	return b.String()
}

// requireBlock is the part of a lab-side go.mod that brings in labkit: the
// requirement on labkit (replaced by the sibling folder) and on what labkit
// requires, marked indirect, so the go command has nothing to add.
func requireBlock(extra ...string) string {
	var b strings.Builder
	b.WriteString("\nrequire (\n")
	for _, e := range extra {
		fmt.Fprintf(&b, "\t%s v0.0.0\n", e)
	}
	fmt.Fprintf(&b, "\t%s v0.0.0\n", LabkitModule)
	b.WriteString(")\n\nrequire (\n")
	for _, r := range labkitRequires {
		fmt.Fprintf(&b, "\t%s %s // indirect\n", r.Path, r.Version)
	}
	b.WriteString(")\n")
	return b.String()
}

// LabGoMod returns the go.mod of a lab module (the learner's package): the
// same file in the lab's starter and solution, the learner's sandbox and the
// grading tree.
func LabGoMod(modulePath string) []byte {
	return []byte(fmt.Sprintf("module %s\n\ngo %s\n%s\nreplace %s => ../%s\n",
		modulePath, GoVersion, requireBlock(), LabkitModule, LabkitDir))
}

// HiddenGoMod returns the go.mod of the hidden-test module hiddenModule,
// which imports the lab module labModule from the sibling folder labDir and
// labkit from ../LabkitDir.
func HiddenGoMod(hiddenModule, labModule, labDir string) []byte {
	return []byte(fmt.Sprintf("module %s\n\ngo %s\n%s\nreplace (\n\t%s => ../%s\n\t%s => ../%s\n)\n",
		hiddenModule, GoVersion, requireBlock(labModule), labModule, labDir, LabkitModule, LabkitDir))
}

// Catalog is a validated set of labs. Its labs are shared: callers must treat
// them as read-only.
type Catalog struct {
	bySlug map[string]*faultline.Lab
	all    []*faultline.Lab // sorted by difficulty, then title
	std    []string         // standard-library import paths, sorted
}

// Lab returns the lab with the given slug, or ENOTFOUND.
func (c *Catalog) Lab(slug string) (*faultline.Lab, error) {
	if l, ok := c.bySlug[slug]; ok {
		return l, nil
	}
	return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no lab %q.", slug)
}

// All returns every lab, sorted by difficulty (intro, intermediate, advanced)
// and then by title. The slice is the caller's to keep.
func (c *Catalog) All() []*faultline.Lab {
	return append([]*faultline.Lab(nil), c.all...)
}

// StdImports returns the sorted standard-library import paths used by the Go
// files of any lab (starter, tests, hidden, solution, mutants), for warming a
// lab image's build cache.
func (c *Catalog) StdImports() []string {
	return append([]string(nil), c.std...)
}

// difficulties ranks the allowed difficulty values.
var difficulties = map[string]int{"intro": 0, "intermediate": 1, "advanced": 2}

func newCatalog(labs []*faultline.Lab, std map[string]bool) *Catalog {
	c := &Catalog{bySlug: make(map[string]*faultline.Lab, len(labs))}
	for _, l := range labs {
		c.bySlug[l.Slug] = l
		c.all = append(c.all, l)
	}
	sort.Slice(c.all, func(i, j int) bool {
		a, b := c.all[i], c.all[j]
		if da, db := difficulties[a.Difficulty], difficulties[b.Difficulty]; da != db {
			return da < db
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return a.Slug < b.Slug
	})
	for p := range std {
		c.std = append(c.std, p)
	}
	sort.Strings(c.std)
	return c
}
