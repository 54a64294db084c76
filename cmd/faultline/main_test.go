package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
)

// runCLI runs the faultline command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "FAULTLINE_DOCKER_HOST" || strings.HasPrefix(k, "FAULTLINE_") {
			return ""
		}
		return os.Getenv(k)
	}
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, env)
	return code, stdout.String(), stderr.String()
}

// MustLab returns a lab of the built-in catalog.
func MustLab(tb testing.TB, slug string) *faultline.Lab {
	tb.Helper()
	c, err := labs.Load(labs.FS)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := c.Lab(slug)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// MustWriteFiles writes files into a new temp folder and returns it.
func MustWriteFiles(tb testing.TB, files []faultline.File) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func gradeJSON(t *testing.T, lab, dir string) jsonResult {
	t.Helper()
	code, out, errOut := runCLI(t, "grade", "--lab", lab, dir, "--json")
	if code != 0 {
		t.Fatalf("grade exit %d, stderr:\n%s", code, errOut)
	}
	var r jsonResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("grade --json printed invalid JSON: %v\n%s", err, out)
	}
	return r
}

// TestGradeSolutionsAndStarters is the acceptance check of `faultline grade`:
// every lab's solution gets full marks, its starter less, with the JSON shape.
func TestGradeSolutionsAndStarters(t *testing.T) {
	for _, slug := range []string{"circuit-breaker", "consistent-hashing"} {
		t.Run(slug, func(t *testing.T) {
			sol := gradeJSON(t, slug, filepath.Join("..", "..", "labs", slug, "solution"))
			if sol.Lab != slug || sol.Status != string(faultline.StatusGraded) || sol.MaxScore == 0 || sol.Score != sol.MaxScore {
				t.Fatalf("solution: lab=%q status=%q score=%d/%d, want full marks", sol.Lab, sol.Status, sol.Score, sol.MaxScore)
			}
			if len(sol.Tests) == 0 {
				t.Fatal("solution: no tests in the JSON result")
			}
			for _, tr := range sol.Tests {
				if tr.Name == "" || tr.Status != string(faultline.TestPass) || tr.Score != tr.MaxScore {
					t.Errorf("solution test %+v did not pass with full points", tr)
				}
			}
			st := gradeJSON(t, slug, filepath.Join("..", "..", "labs", slug, "starter"))
			if st.Score >= st.MaxScore || st.MaxScore != sol.MaxScore {
				t.Fatalf("starter scored %d/%d, want less than %d", st.Score, st.MaxScore, sol.MaxScore)
			}
		})
	}
}

// TestGradeForgeriesEarnNothing: fake PASS lines and JSON events, os.Exit(0)
// in init and a learner *_test.go on top of the starter earn no more than the
// starter; an infinite loop ends as a time limit within the limit plus a margin.
func TestGradeForgeriesEarnNothing(t *testing.T) {
	lab := MustLab(t, "circuit-breaker")
	base := gradeJSON(t, lab.Slug, MustWriteFiles(t, lab.Starter))
	var names []string
	for _, tt := range lab.Tests {
		names = append(names, tt.Name)
	}
	forged := func(body string) []faultline.File {
		return append(append([]faultline.File{}, lab.Starter...),
			faultline.File{Path: "forge.go", Content: []byte("package circuitbreaker\n\nimport (\"fmt\"; \"os\")\n\nvar _ = os.Exit\nvar _ = fmt.Print\n\n" + body)})
	}
	var fake strings.Builder
	for _, n := range names {
		fake.WriteString(`fmt.Printf("--- PASS: ` + n + ` (0.00s)\n{\"Action\":\"pass\",\"Test\":\"` + n + `\"}\n")` + "\n")
	}
	cases := []struct {
		name  string
		files []faultline.File
	}{
		{"fake PASS lines and JSON events", forged("func init() {\n" + fake.String() + "}\n")},
		{"os.Exit(0) in init", forged("func init() {\n" + fake.String() + "os.Exit(0)\n}\n")},
		{"own test file", append(forged(""), faultline.File{Path: "mine_test.go", Content: []byte(
			"package circuitbreaker\n\nimport \"testing\"\n\nfunc " + names[len(names)-1] + "(t *testing.T) {}\nfunc TestMain(m *testing.M) {}\n")})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := gradeJSON(t, lab.Slug, MustWriteFiles(t, c.files))
			if r.Score > base.Score {
				t.Fatalf("forgery scored %d, more than the starter's %d", r.Score, base.Score)
			}
		})
	}
	t.Run("infinite loop", func(t *testing.T) {
		// The time-limit verdict is what shows the grader stopped the loop; a
		// grade that hung would end the test binary at its -timeout instead.
		r := gradeJSON(t, lab.Slug, MustWriteFiles(t, forged("func init() {\n\tfor {\n\t}\n}\n")))
		if r.Status != string(faultline.StatusTimeLimit) || r.Score != 0 {
			t.Fatalf("infinite loop: status %q score %d, want %q and 0", r.Status, r.Score, faultline.StatusTimeLimit)
		}
	})
}

func TestGradeUsageAndErrors(t *testing.T) {
	sol := filepath.Join("..", "..", "labs", "circuit-breaker", "solution")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no lab", []string{"grade", sol}, 2, "--lab"},
		{"no dir", []string{"grade", "--lab", "circuit-breaker"}, 2, "DIR"},
		{"unknown lab", []string{"grade", "--lab", "nope", sol}, 1, "known labs: "},
		{"missing dir", []string{"grade", "--lab", "circuit-breaker", "/does/not/exist"}, 1, "is not a folder"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"labs check bad runs", []string{"labs", "check", "--runs", "0"}, 2, "--runs"},
		{"replay without seed", []string{"grade", "--lab", "circuit-breaker", "--run", "^TestX$", sol}, 2, "--seed N"},
		{"replay bad seed", []string{"grade", "--lab", "circuit-breaker", "--run", "^TestX$", "--seed", "x", sol}, 2, "--seed N"},
		{"replay bad pattern", []string{"grade", "--lab", "circuit-breaker", "--run", "^Test(X$", "--seed", "3", sol}, 2, "not a valid regular expression"},
		{"replay matches nothing", []string{"grade", "--lab", "circuit-breaker", "--run", "^TestNoSuch$", "--seed", "3", sol}, 1, "matches none of the tests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, c.code, c.want)
			}
		})
	}
}

func TestReadDirRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "b.go")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("ReadDir with a symlink: err = %v, want a refusal", err)
	}
	os.Remove(filepath.Join(dir, "b.go"))
	files, err := ReadDir(dir)
	if err != nil || len(files) != 1 || files[0].Path != "a.go" {
		t.Fatalf("ReadDir = %v, %v; want just a.go", files, err)
	}
}

func TestContentCheck(t *testing.T) {
	code, out, errOut := runCLI(t, "content", "check")
	if code != 0 || !strings.Contains(out, "content check:") {
		t.Fatalf("content check exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestConfigValidate(t *testing.T) {
	env := map[string]string{"FAULTLINE_ADDR": ":9090", "FAULTLINE_WORKERS": "3"}
	c := DefaultConfig(func(k string) string { return env[k] })
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9090" || c.Workers != 3 || c.BaseURL != "" || c.SecureCookies {
		t.Fatalf("config from env = %+v", c)
	}
	c.BaseURL = "https://faultline.example.org/"
	if err := c.Validate(); err != nil || !c.SecureCookies || c.BaseURL != "https://faultline.example.org" {
		t.Fatalf("https base URL: %+v, %v; want Secure cookies and no trailing slash", c, err)
	}
	if c.PoolSize != 2 || c.IdleTimeout != 10*time.Minute {
		t.Errorf("pool %d, idle timeout %s; want the defaults 2 and 10m", c.PoolSize, c.IdleTimeout)
	}
	ok := Config{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute}
	for _, bad := range []Config{
		{Addr: "", DataDir: "d", Workers: 1, IdleTimeout: time.Minute},
		{Addr: ":1", DataDir: "d", Workers: 0, IdleTimeout: time.Minute},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, BaseURL: "ftp://x"},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, LabsDir: "/does/not/exist"},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, PoolSize: -1},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Second},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, BuildCPUs: -1},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, BuildCacheMiB: -1},
		{Addr: ":1", DataDir: "d", Workers: 1, IdleTimeout: time.Minute, BuildCacheMiB: 100},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	// Environment values that do not parse are reported, not ignored.
	for k, v := range map[string]string{"FAULTLINE_WORKERS": "two", "FAULTLINE_POOL": "x", "FAULTLINE_IDLE_TIMEOUT": "10"} {
		c := DefaultConfig(func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: Validate() = %v, want an error naming it", k, v, err)
		}
	}
	c = DefaultConfig(func(string) string { return "" })
	if c.BuildCacheMiB != grader.DefaultBuildCacheMB || c.buildCacheDir() != filepath.Join("data", "build-cache") {
		t.Errorf("default build cache %d MiB in %q, want %d in data/build-cache", c.BuildCacheMiB, c.buildCacheDir(), grader.DefaultBuildCacheMB)
	}
	c.Backend.Name = "kubernetes"
	if d := c.buildCacheDir(); d != "" {
		t.Errorf("build cache on Kubernetes in %q, want none", d)
	}
	env = map[string]string{"FAULTLINE_POOL": "0", "FAULTLINE_IDLE_TIMEOUT": "25m", "FAULTLINE_BUILD_CPUS": "1", "FAULTLINE_BUILD_CACHE_MIB": "0"}
	c = DefaultConfig(func(k string) string { return env[k] })
	if err := c.Validate(); err != nil || c.PoolSize != 0 || c.IdleTimeout != 25*time.Minute || c.BuildCPUs != 1 || c.BuildCacheMiB != 0 {
		t.Errorf("pool, idle timeout, build CPUs and cache from env: %d, %s, %d, %d, %v", c.PoolSize, c.IdleTimeout, c.BuildCPUs, c.BuildCacheMiB, err)
	}
	if d := c.buildCacheDir(); d != "" {
		t.Errorf("build cache of 0 MiB in %q, want none", d)
	}
}

func TestBaseURL(t *testing.T) {
	cases := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://localhost:8080"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, "http://localhost:9000"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 80}, "http://192.0.2.7:80"},
	}
	for _, c := range cases {
		if got := baseURL(c.addr); got != c.want {
			t.Errorf("baseURL(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
}
