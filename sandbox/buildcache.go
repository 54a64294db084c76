package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// Shared build caches. A lab image carries a read-only Go build cache
// (standard library and labkit compiled); a grade compiles the learner's
// package and the tests against it, and before this kept nothing. With a
// backend that keeps volumes (backend.VolumeKeeper: Docker), each lab image
// gets one named volume, filled from the image's cache by its first build,
// that grading builds write to: a package compiled for one
// grade is found by the next grade of the same inputs, as in the go command's
// cache on a developer's machine.
//
// The cache is shared by every learner, so no learner code may ever run
// where it is mounted: the grader mounts it only in a build container, which
// compiles (no cgo, no network, -vet=off: the go command runs no code of the
// module it builds) and writes the test binaries to its output, and runs
// them in a second container that has no cache mounted. The go command keys
// every entry by the hash of all of its inputs, so a build cannot make an
// entry that another build's inputs would find.

// LabelBuildCache marks a build-cache volume; its value is the lab image
// reference the cache belongs to. LabelBuildCacheScope, when set, is the
// SetCacheScope of the Engine that made it.
const (
	LabelBuildCache      = "faultline.buildcache"
	LabelBuildCacheScope = "faultline.buildcache.scope"
)

// SetCacheScope makes the Engine keep build caches of its own, apart from
// every other Engine's: for tests that count what a cache holds. Call it
// before the Engine is used.
func (e *Engine) SetCacheScope(scope string) { e.cacheScope = scope }

// BuildCacheMount is where a build-cache volume is mounted: an empty
// directory of the image owned by the sandbox user, so a new volume is one
// too. A build fills a new cache from ImageGocache first.
const BuildCacheMount = "/opt/faultline/buildcache"

// ImageGocache is the lab image's own build cache, read-only.
const ImageGocache = imageGocache

// MachineCPUs returns the CPUs of the machine containers run on, or 0 when
// the backend does not say (a job then asks for no more than it needs).
func (e *Engine) MachineCPUs(ctx context.Context) float64 {
	return e.resizableCPUs(ctx, "")
}

// BuildCacheVolume returns the name of image's build-cache volume, creating
// it first. Every Engine on the orchestrator shares it (portals and test
// runs alike: what it holds is keyed by its inputs), unless SetCacheScope
// gave this one caches of its own. It returns "" and no error when the backend keeps no volumes
// (the caller then builds against the image's read-only cache alone).
func (e *Engine) BuildCacheVolume(ctx context.Context, image string) (string, error) {
	if !e.counted.KeepsVolumes() {
		return "", nil
	}
	name := buildCacheName(e.cacheScope, image)
	e.mu.Lock()
	made := e.volumes[name]
	e.mu.Unlock()
	if made {
		return name, nil
	}
	labels := map[string]string{LabelBuildCache: image}
	if e.cacheScope != "" {
		labels[LabelBuildCacheScope] = e.cacheScope
	}
	if err := e.counted.CreateVolume(ctx, name, labels); err != nil {
		return "", fmt.Errorf("build cache for %s: %w", image, err)
	}
	e.mu.Lock()
	if e.volumes == nil {
		e.volumes = map[string]bool{}
	}
	e.volumes[name] = true
	e.mu.Unlock()
	return name, nil
}

// buildCacheName is the volume name of image's build cache in scope: a
// hash, since a reference may hold characters a volume name may not.
func buildCacheName(scope, image string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + image))
	return "faultline-gocache-" + hex.EncodeToString(sum[:8])
}

// removeBuildCaches removes the build-cache volumes of the images removed. A
// volume a container still mounts is left (the next prune takes it).
func (e *Engine) removeBuildCaches(ctx context.Context, removed []string) error {
	var errs []error
	for _, ref := range removed {
		names, err := e.counted.ListVolumes(ctx, map[string]string{LabelBuildCache: ref})
		if err != nil {
			return err
		}
		for _, n := range names {
			err := e.counted.RemoveVolume(ctx, n)
			switch faultline.ErrorCode(err) {
			case "", faultline.ENOTFOUND:
			case faultline.ECONFLICT:
				e.log.Info("build cache of a removed lab image still mounted; left for the next prune", "volume", n, "image", ref)
			default:
				errs = append(errs, err)
			}
			if err == nil {
				e.mu.Lock()
				delete(e.volumes, n)
				e.mu.Unlock()
			}
		}
	}
	return errors.Join(errs...)
}
