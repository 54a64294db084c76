package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/faultline-dev/faultline"
)

// MustTinyImage builds a one-file image from scratch tagged ref, its content
// unique to ref (so every ref is a distinct image), and removes it at the
// end of the test.
func MustTinyImage(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	buildCtx := MustTar(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY f /f\n",
		"f":          ref + " " + testRun + "\n",
	})
	resp, err := testEngine.cli.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, NetworkMode: "none",
		Version: build.BuilderV1, Labels: map[string]string{labelTest: testRun},
	})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var msg struct{ Error string }
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("build %s: %v", ref, err)
		}
		if msg.Error != "" {
			t.Fatalf("build %s: %s", ref, msg.Error)
		}
	}
	resp.Body.Close()
	t.Cleanup(func() {
		_, _ = testEngine.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// mustImageExists reports whether the engine has ref.
func mustImageExists(t *testing.T, ctx context.Context, ref string) bool {
	t.Helper()
	_, err := testEngine.cli.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return false
	} else if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return true
}

func TestPruneLabImages(t *testing.T) {
	ctx := MustContext(t, 3*time.Minute)
	// A repository of this test's own: the real lab images are in use by
	// other tests and portals on this engine.
	repo := LabImageRepo + "-prunetest-" + testRun
	current := MustTinyImage(t, ctx, repo+":current")
	old := MustTinyImage(t, ctx, repo+":old")
	inUse := MustTinyImage(t, ctx, repo+":inuse")
	alias := repo + ":alias-of-current" // a second tag of the kept image
	// A second tag of the image in use: the engine would untag it without a
	// word, so only PruneLabImages' own check keeps it.
	inUseAlias := repo + ":alias-of-inuse"
	for src, dst := range map[string]string{current: alias, inUse: inUseAlias} {
		if err := testEngine.cli.ImageTag(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = testEngine.cli.ImageRemove(context.Background(), dst, image.RemoveOptions{}) })
	}

	// A stopped container made from inUse: an image "in use" need not run.
	c, err := testEngine.cli.ContainerCreate(ctx, &container.Config{Image: inUse, Cmd: []string{"/f"}, Labels: testLabels(t, "prune")},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() { testEngine.removeContainer(c.ID) })

	opt := PruneOptions{Keep: []string{current}, Repo: repo}

	// Everything here was built just now: an hour's MinAge spares it all.
	withAge := opt
	withAge.MinAge = time.Hour
	if removed, err := testEngine.PruneLabImages(ctx, withAge); err != nil || len(removed) != 0 {
		t.Fatalf("with MinAge 1h: removed %q, %v; want nothing", removed, err)
	}
	// As seen a day later, the old ones may go.
	withAge.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	removed, err := testEngine.PruneLabImages(ctx, withAge)
	if err != nil {
		t.Fatalf("PruneLabImages: %v", err)
	}
	slices.Sort(removed)
	if want := []string{alias, old}; !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for ref, want := range map[string]bool{current: true, inUse: true, inUseAlias: true, old: false, alias: false} {
		if got := mustImageExists(t, ctx, ref); got != want {
			t.Errorf("after pruning, %s exists = %v, want %v", ref, got, want)
		}
	}

	// Once its container is gone, the unused image goes too; the kept one
	// never does.
	testEngine.removeContainer(c.ID)
	removed, err = testEngine.PruneLabImages(ctx, opt)
	slices.Sort(removed)
	if want := []string{inUseAlias, inUse}; err != nil || !slices.Equal(removed, want) {
		t.Fatalf("after removing the container: removed %q, %v; want %q", removed, err, want)
	}
	if !mustImageExists(t, ctx, current) {
		t.Errorf("the kept image %s was removed", current)
	}
	if removed, err := testEngine.PruneLabImages(ctx, opt); err != nil || len(removed) != 0 {
		t.Errorf("pruning again: removed %q, %v; want nothing", removed, err)
	}
}

func TestLabImagesInUse(t *testing.T) {
	tag, err := testEngine.recipeTag(testWarm)
	if err != nil {
		t.Fatal(err)
	}
	labs := []*faultline.Lab{{Slug: "a"}, {Slug: "b", Image: "faultline-lab:custom"}, {Slug: "c", Image: "faultline-lab:custom"}}
	got, err := testEngine.LabImagesInUse(testWarm, labs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{tag, "faultline-lab:custom"}; !slices.Equal(got, want) {
		t.Errorf("LabImagesInUse = %q, want %q", got, want)
	}
}
