package sandbox

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sandbox/backend"
)

// TestBuildCacheVolumes: one volume per image (and cache scope) on the real Docker
// engine, labelled with its image; removing an image's caches spares one a
// container mounts and removes it once free; and a backend that keeps no
// volumes gets none.
func TestBuildCacheVolumes(t *testing.T) {
	ctx := MustContext(t, 2*time.Minute)
	e := New(testDocker, slog.New(slog.DiscardHandler))
	e.SetCacheScope("test-" + testRun)
	img1, img2 := "faultline-cachetest-"+testRun+":one", "faultline-cachetest-"+testRun+":two"
	v1, err := e.BuildCacheVolume(ctx, img1)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := e.BuildCacheVolume(ctx, img2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, v := range []string{v1, v2} {
			_ = testDocker.RemoveVolume(context.Background(), v)
		}
	})
	if v1 == v2 || v1 == buildCacheName("", img1) || v1 != buildCacheName("test-"+testRun, img1) {
		t.Errorf("volumes %q and %q: want one per image and scope", v1, v2)
	}
	if names, err := testDocker.ListVolumes(ctx, map[string]string{LabelBuildCache: img1, LabelBuildCacheScope: "test-" + testRun}); err != nil || !slices.Equal(names, []string{v1}) {
		t.Errorf("volumes labelled with %s: %q, %v; want [%s]", img1, names, err, v1)
	}

	// A container mounting v1 keeps it through a removal.
	id, err := testDocker.Create(ctx, backend.Spec{Image: MustLabImage(t), Cmd: []string{"true"}, MemoryMB: 64, CPUs: 1, Pids: 16,
		Labels: testLabels(t, KindGrade), Volumes: []backend.Volume{{Name: v1, Path: BuildCacheMount}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.removeBuildCaches(ctx, []string{img1, img2}); err != nil {
		t.Fatalf("removeBuildCaches: %v", err)
	}
	left, _ := testDocker.ListVolumes(ctx, map[string]string{LabelBuildCacheScope: "test-" + testRun})
	if !slices.Equal(left, []string{v1}) {
		t.Errorf("after removing with %s mounted: %q left, want just it", v1, left)
	}
	if err := testDocker.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.removeBuildCaches(ctx, []string{img1}); err != nil {
		t.Fatalf("removeBuildCaches: %v", err)
	}
	if left, _ := testDocker.ListVolumes(ctx, map[string]string{LabelBuildCacheScope: "test-" + testRun}); len(left) != 0 {
		t.Errorf("after the container went: %q left", left)
	}
	// Made again after removal (the Engine forgot it had made it).
	if v, err := e.BuildCacheVolume(ctx, img1); err != nil || v != v1 {
		t.Fatalf("BuildCacheVolume after removal: %q, %v", v, err)
	}
	if names, _ := testDocker.ListVolumes(ctx, map[string]string{LabelBuildCache: img1, LabelBuildCacheScope: "test-" + testRun}); !slices.Equal(names, []string{v1}) {
		t.Errorf("volume not made again: %q", names)
	}

	if v, err := New(&pruneRecorder{}, nil).BuildCacheVolume(ctx, img1); err != nil || v != "" {
		t.Errorf("backend without volumes: %q, %v; want none", v, err)
	}
}
