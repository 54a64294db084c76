package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

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
// old, and returns the references it removed. It removes by reference and
// never forces: an image with other tags only loses this one, and the engine
// itself refuses to remove an image a container was created from meanwhile
// (that tag is then skipped). EUNAVAILABLE when the engine is down.
func (e *Engine) PruneLabImages(ctx context.Context, opt PruneOptions) ([]string, error) {
	repo := opt.Repo
	if repo == "" {
		repo = LabImageRepo
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	keep := map[string]bool{}
	for _, k := range opt.Keep {
		keep[normalizeRef(k)] = true
	}

	imgs, err := e.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
	if err != nil {
		return nil, e.fail("list images "+repo, err)
	}
	if len(imgs) == 0 {
		return nil, nil
	}
	// Listed after the images, so a container created in between is seen.
	cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, e.fail("list containers for image pruning", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		used[c.ImageID] = true
		used[normalizeRef(c.Image)] = true
	}

	cutoff := now().Add(-opt.MinAge)
	var removed []string
	for _, img := range imgs {
		if used[img.ID] || (opt.MinAge > 0 && time.Unix(img.Created, 0).After(cutoff)) {
			continue
		}
		for _, ref := range img.RepoTags {
			if !strings.HasPrefix(ref, repo+":") || keep[ref] || used[ref] {
				continue
			}
			_, err := e.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
			switch {
			case err == nil:
				e.log.Info("removed old lab image", "image", ref, "id", short(strings.TrimPrefix(img.ID, "sha256:")))
				removed = append(removed, ref)
			case isNotFound(err):
			case isConflict(err) || strings.Contains(err.Error(), "conflict"):
				e.log.Info("old lab image in use; kept", "image", ref, "err", err)
			default:
				return removed, e.fail(fmt.Sprintf("remove old lab image %s", ref), err)
			}
		}
	}
	return removed, nil
}

// normalizeRef drops the default registry prefixes the engine may report,
// so "docker.io/library/x:t" and "x:t" compare equal.
func normalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}
