package sandbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// pruneRecorder is a backend that records what PruneImages was asked (the
// real pruning is sandbox/docker's, tested there against the engine).
type pruneRecorder struct {
	backend.Backend // nil: any other call panics
	repo            string
	keep            []string
	before          time.Time
}

func (p *pruneRecorder) PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error) {
	p.repo, p.keep, p.before = repo, keep, before
	return []string{repo + ":old"}, nil
}

// TestPruneLabImages: the lab image repository by default, the kept
// references, and MinAge as the time before which images may go.
func TestPruneLabImages(t *testing.T) {
	rec := &pruneRecorder{}
	e := New(rec, nil)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	removed, err := e.PruneLabImages(context.Background(), PruneOptions{Keep: []string{"faultline-lab:a"}, MinAge: DefaultPruneMinAge, Now: func() time.Time { return now }})
	if err != nil || !slices.Equal(removed, []string{LabImageRepo + ":old"}) {
		t.Fatalf("PruneLabImages: %q, %v", removed, err)
	}
	if rec.repo != LabImageRepo || !slices.Equal(rec.keep, []string{"faultline-lab:a"}) || !rec.before.Equal(now.Add(-DefaultPruneMinAge)) {
		t.Errorf("asked to prune %q keeping %q before %s", rec.repo, rec.keep, rec.before)
	}
	if _, err := e.PruneLabImages(context.Background(), PruneOptions{Repo: "other"}); err != nil {
		t.Fatal(err)
	}
	if rec.repo != "other" || !rec.before.IsZero() {
		t.Errorf("without MinAge: asked to prune %q before %s, want any age", rec.repo, rec.before)
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
