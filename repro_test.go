package faultline_test

import (
	"testing"

	"github.com/faultline-dev/faultline"
)

func TestParseRepro(t *testing.T) {
	report := "PROPERTY BROKEN: x\nSeed: 42\nReproduce: LABKIT_SEED=42 go test -count=1 -run '^TestX$/^seed=42$' ./...\n"
	rp, ok := faultline.ParseRepro(report)
	if !ok || rp.Seed != 42 || rp.Run != "^TestX$/^seed=42$" {
		t.Fatalf("ParseRepro = %+v, %v", rp, ok)
	}
	// labkit quotes a ' in a pattern as '\''.
	rp, ok = faultline.ParseRepro(`LABKIT_SEED=-7 go test -count=1 -run '^TestA$/^it'\''s$' ./...`)
	if !ok || rp.Seed != -7 || rp.Run != "^TestA$/^it's$" {
		t.Fatalf("quoted: ParseRepro = %+v, %v", rp, ok)
	}
	for _, s := range []string{"", "Seed: 3", "LABKIT_SEED=x go test -count=1 -run 'a' ./...", "LABKIT_SEED=99999999999999999999 go test -count=1 -run 'a' ./..."} {
		if rp, ok := faultline.ParseRepro(s); ok {
			t.Errorf("ParseRepro(%q) = %+v, want none", s, rp)
		}
	}
}

func TestReproValidate(t *testing.T) {
	for _, ok := range []string{"^TestX$", "^TestX$/^seed=1$", "Test(A|B)"} {
		if err := (faultline.Repro{Run: ok}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", ok, err)
		}
	}
	long := make([]byte, 301)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "^Test(X$", "a\nb", string(long)} {
		if err := (faultline.Repro{Run: bad}).Validate(); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("Validate(%q) = %v, want EINVALID", bad, err)
		}
	}
}
