package sandbox

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/faultline-dev/faultline"
)

// Old lab images. A lab image's tag hashes everything in it (toolchain,
// busybox, labkit, warm list, recipe), so every change of those makes a new
// image and leaves the old one behind. PruneLabImages removes such leftovers;
// the portal calls it once its current image is ready.

// DefaultPruneMinAge is how old a lab image must be before the portal prunes
// it: images are shared by every portal and test run on the engine (their
// names carry no scope), and one built a moment ago by another of them may be
// about to get its first container.
const DefaultPruneMinAge = 24 * time.Hour

// PruneOptions say which lab images PruneLabImages may remove.
type PruneOptions struct {
	// Keep lists image references (repo:tag) that are never removed: the
	// images the portal's labs use (see LabImagesInUse).
	Keep []string
	// MinAge spares images created less than this long ago (0: none spared).
	MinAge time.Duration
	// Repo is the repository whose tags are candidates (default
	// LabImageRepo). Tests use a repository of their own, so they never
	// touch the lab images others are using.
	Repo string
	// Now is the clock MinAge is measured on (default time.Now).
	Now func() time.Time
}

// LabImagesInUse returns the lab image references the portal's labs use: the
// built-in lab image for the warm list (the tag LabImage returns, built or
// not) and every lab's own image override.
func (e *Engine) LabImagesInUse(warm []string, labs []*faultline.Lab) ([]string, error) {
	tag, err := e.recipeTag(warm)
	if err != nil {
		return nil, err
	}
	keep := []string{tag}
	for _, l := range labs {
		if l.Image != "" && !slices.Contains(keep, l.Image) {
			keep = append(keep, l.Image)
		}
	}
	return keep, nil
}

// PruneLabImages removes the tags of opt.Repo that are not in opt.Keep, whose
// image no container uses (running or not) and that are at least opt.MinAge
// old, and returns the references it removed (backend.Backend.PruneImages;
// a backend whose nodes collect images themselves removes nothing).
// EUNAVAILABLE when the orchestrator is down.
func (e *Engine) PruneLabImages(ctx context.Context, opt PruneOptions) ([]string, error) {
	repo := opt.Repo
	if repo == "" {
		repo = LabImageRepo
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	var before time.Time // zero: any age
	if opt.MinAge > 0 {
		before = now().Add(-opt.MinAge)
	}
	removed, err := e.b.PruneImages(ctx, repo, opt.Keep, before)
	if err != nil {
		return removed, fmt.Errorf("prune lab images: %w", err)
	}
	return removed, nil
}
