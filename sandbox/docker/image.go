package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// HasImage reports whether the engine has ref.
func (b *Backend) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := b.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, b.fail("inspect image "+ref, err)
}

// BuildImage streams buildContext to the engine's legacy builder (no
// BuildKit needed), with no network, and tags the result ref. The engine
// that builds is the engine that runs the containers, so nothing is pushed.
func (b *Backend) BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error {
	resp, err := b.cli.ImageBuild(ctx, buildContext, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		NetworkMode: "none",
		Version:     build.BuilderV1,
		Labels:      labels,
	})
	if err != nil {
		return b.fail("build image "+ref, err)
	}
	defer resp.Body.Close()
	// The build reports progress as JSON lines; an error is one of them.
	var tail []string
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return b.fail("build image "+ref+": read progress", err)
		}
		for _, line := range strings.Split(strings.TrimRight(msg.Stream, "\n"), "\n") {
			if line == "" {
				continue
			}
			b.log.Debug("image build", "image", ref, "line", line)
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
		}
		if msg.Error != "" {
			return fmt.Errorf("build image %s: %s (last output: %s)", ref, msg.Error, strings.Join(tail, " | "))
		}
	}
	if _, err := b.cli.ImageInspect(ctx, ref); err != nil {
		return b.fail("build image "+ref+": inspect result", err)
	}
	return nil
}

// PruneImages removes repo's unused tags. It removes by reference and never
// forces: an image with other tags only loses this one, and the engine
// itself refuses to remove an image a container was created from meanwhile
// (that tag is then skipped).
func (b *Backend) PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error) {
	kept := map[string]bool{}
	for _, k := range keep {
		kept[normalizeRef(k)] = true
	}
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
	if err != nil {
		return nil, b.fail("list images "+repo, err)
	}
	if len(imgs) == 0 {
		return nil, nil
	}
	// Listed after the images, so a container created in between is seen.
	cs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, b.fail("list containers for image pruning", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		used[c.ImageID] = true
		used[normalizeRef(c.Image)] = true
	}
	var removed []string
	for _, img := range imgs {
		if used[img.ID] || (!before.IsZero() && !time.Unix(img.Created, 0).Before(before)) {
			continue
		}
		for _, ref := range img.RepoTags {
			if !strings.HasPrefix(ref, repo+":") || kept[ref] || used[ref] {
				continue
			}
			_, err := b.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
			switch {
			case err == nil:
				b.log.Info("removed old image", "image", ref, "id", short(strings.TrimPrefix(img.ID, "sha256:")))
				removed = append(removed, ref)
			case cerrdefs.IsNotFound(err):
			case cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "conflict"):
				b.log.Info("old image in use; kept", "image", ref, "err", err)
			default:
				return removed, b.fail("remove old image "+ref, err)
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

// PushImage pushes ref, an image this engine has, to target (a
// registry/name:tag reference; a registry on a loopback address may speak
// plain HTTP), then drops the local target tag so ref stays the image's only
// name here. It is how a backend whose nodes pull from a registry gets the
// images this engine builds. EUNAVAILABLE when the engine is down; an
// internal error with the registry's answer when the push fails.
func (b *Backend) PushImage(ctx context.Context, ref, target string) error {
	if err := b.cli.ImageTag(ctx, ref, target); err != nil {
		return b.fail("tag image "+ref+" as "+target, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if _, err := b.cli.ImageRemove(rctx, target, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			b.log.Warn("could not untag a pushed image", "image", target, "err", err)
		}
	}()
	// No credentials: "{}" base64-encoded.
	rc, err := b.cli.ImagePush(ctx, target, image.PushOptions{RegistryAuth: "e30="})
	if err != nil {
		return b.fail("push image "+target, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(bufio.NewReader(rc))
	for {
		var msg struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return b.fail("push image "+target+": read progress", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("push image %s: %s", target, msg.Error)
		}
	}
}
