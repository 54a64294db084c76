// Package labs holds the Faultline lab catalog: one folder per lab (lab.yaml,
// README.md, starter/, tests/, hidden/, solution/, mutants/<name>/), embedded
// in the binary, and the loader that validates the folders and turns them into
// faultline.Lab values.
package labs

import (
	"embed"
	"sort"

	"github.com/faultline-dev/faultline"
)

// FS holds the lab folders shipped with Faultline. Pass it to Load.
//
//go:embed all:circuit-breaker all:consistent-hashing
var FS embed.FS

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
