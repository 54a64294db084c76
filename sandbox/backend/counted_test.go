package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// failing is a Backend whose every verb returns err (the embedded nil
// interface panics on any verb the test does not expect).
type failing struct {
	backend.Backend
	err error
}

func (f failing) Ping(context.Context) error                              { return f.err }
func (f failing) Remove(context.Context, string) error                    { return f.err }
func (f failing) CopyIn(context.Context, string, string, io.Reader) error { return f.err }
func (f failing) Create(context.Context, backend.Spec) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	return "c1", nil
}

// TestCountedCountsTheOrchestratorsFailures: internal errors and outages
// are counted by verb; answers a verb promises (not found, conflict,
// invalid, too many) and calls ended by their context are not; errors pass
// through unchanged.
func TestCountedCountsTheOrchestratorsFailures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		err   error
		count bool
	}{
		{nil, false},
		{faultline.Errorf(faultline.EINTERNAL, "docker: create: boom"), true},
		{fmt.Errorf("create: %w", faultline.Errorf(faultline.EUNAVAILABLE, "the engine is down")), true},
		{errors.New("an error without a code is internal"), true},
		{faultline.Errorf(faultline.ENOTFOUND, "no such container"), false},
		{faultline.Errorf(faultline.ECONFLICT, "exists"), false},
		{faultline.Errorf(faultline.EINVALID, "no image"), false},
		{faultline.Errorf(faultline.ETOOMANY, "busy"), false},
		{fmt.Errorf("create: %w", context.Canceled), false},
		{fmt.Errorf("create: %w", context.DeadlineExceeded), false},
	}
	for _, c := range cases {
		b := backend.Count(failing{err: c.err})
		if err := b.Ping(ctx); err != c.err {
			t.Errorf("Ping returned %v, want %v unchanged", err, c.err)
		}
		_, _ = b.Create(ctx, backend.Spec{})
		_, _ = b.Create(ctx, backend.Spec{})
		_ = b.CopyIn(ctx, "c1", "/work", nil)
		want := map[string]uint64{}
		if c.count {
			want = map[string]uint64{"ping": 1, "create": 2, "copy_in": 1}
		}
		if got := b.Errors(); !maps.Equal(got, want) {
			t.Errorf("%v: counted %v, want %v", c.err, got, want)
		}
	}

	// Wrapping twice counts once; the map returned is a copy.
	b := backend.Count(failing{err: faultline.Errorf(faultline.EINTERNAL, "boom")})
	if backend.Count(b) != b {
		t.Fatal("Count of a Counted wraps it again")
	}
	_ = b.Remove(ctx, "x")
	b.Errors()["remove"] = 99
	if got := b.Errors()["remove"]; got != 1 {
		t.Errorf("remove failures = %d, want 1", got)
	}
}
