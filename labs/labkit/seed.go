package labkit

import (
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// SeedEnv is the environment variable that overrides the seeds tests use,
// to reproduce a failing run: LABKIT_SEED=12345 go test -run 'TestX' ./...
const SeedEnv = "LABKIT_SEED"

// EnvSeed returns the seed set in LABKIT_SEED, if any. A value that is not an
// integer is an error.
func EnvSeed() (seed int64, ok bool, err error) {
	v := strings.TrimSpace(os.Getenv(SeedEnv))
	if v == "" {
		return 0, false, nil
	}
	seed, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("labkit: %s=%q is not an integer seed", SeedEnv, v)
	}
	return seed, true, nil
}

// Seed returns the seed for a test: the LABKIT_SEED value when set, else a
// fixed seed derived from the test's name, so a test does the same thing on
// every run and in every environment.
func Seed(tb testing.TB) int64 {
	tb.Helper()
	seed, ok, err := EnvSeed()
	if err != nil {
		tb.Fatal(err)
	}
	if ok {
		return seed
	}
	return nameSeed(tb.Name(), 0)
}

// Seeds returns n seeds for a test that explores several random scenarios.
// When LABKIT_SEED is set it returns just that seed, so one failing scenario
// can be rerun alone.
func Seeds(tb testing.TB, n int) []int64 {
	tb.Helper()
	seed, ok, err := EnvSeed()
	if err != nil {
		tb.Fatal(err)
	}
	if ok {
		return []int64{seed}
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = nameSeed(tb.Name(), i)
	}
	return out
}

// RunSeeds runs fn as a subtest named "seed=N" for each of Seeds(t, n).
func RunSeeds(t *testing.T, n int, fn func(t *testing.T, seed int64)) {
	t.Helper()
	for _, seed := range Seeds(t, n) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { fn(t, seed) })
	}
}

func nameSeed(name string, i int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", name, i)
	// Keep seeds positive and short enough to type.
	return int64(h.Sum64() % 1_000_000_000)
}

// ReproCommand returns the shell command that reruns exactly this test with
// this seed, e.g.
//
//	LABKIT_SEED=12345 go test -count=1 -run '^TestElection$/^seed=12345$' ./...
func ReproCommand(testName string, seed int64) string {
	parts := strings.Split(testName, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	pattern := strings.Join(parts, "/")
	pattern = strings.ReplaceAll(pattern, "'", `'\''`)
	return fmt.Sprintf("%s=%d go test -count=1 -run '%s' ./...", SeedEnv, seed, pattern)
}
