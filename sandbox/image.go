package sandbox

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// recipeVersion changes whenever the image recipe below changes, so images
// built by an older recipe are not reused.
const recipeVersion = "lab-image-v4"

// LabImageRepo is the repository part of every lab image tag.
const LabImageRepo = "faultline-lab"

// busyboxPath is the host's static busybox, copied into the lab image.
const busyboxPath = "/bin/busybox"

// Paths and environment inside the lab image (see the brief's "Lab image").
const (
	imageGoroot  = "/usr/local/go"
	imageGocache = "/opt/faultline/gocache"
	// imageGoproxy is a file-based module proxy holding the modules labkit
	// requires: containers have no network.
	imageGoproxy = "/opt/faultline/goproxy"
	// imageModcache is where the go command unpacks those modules: on the
	// writable /tmp tmpfs, at the same path when the image is warmed and
	// when labs are graded or tested, so the warm build cache matches.
	imageModcache = "/tmp/gomodcache"
	// ImageLabkit is where labkit lives in the image: the parent of the
	// learner's /work, so the lab go.mod's "replace => ../labkit" finds it.
	ImageLabkit = "/" + labs.LabkitDir
)

// imageEnv is the environment of every container started from the lab image.
var imageEnv = []string{
	"PATH=/usr/local/go/bin:/usr/local/bin:/bin",
	"GOROOT=" + imageGoroot,
	"GOCACHE=" + imageGocache,
	"HOME=/tmp",
	"GOPATH=/tmp/gopath",
	"GOTOOLCHAIN=local",
	"GOPROXY=file://" + imageGoproxy,
	"GOSUMDB=off",
	"GOMODCACHE=" + imageModcache,
	"GOFLAGS=-mod=mod",
	"CGO_ENABLED=0",
	"GOTELEMETRY=off",
	// The go command's package index writes to GOCACHE for any package
	// whose files are over 2 s old, and fails hard when the cache is
	// read-only ("open .../gocache/..-d: read-only file system").
	"GODEBUG=goindex=0",
}

// baseWarm is always added to the warm list. What `go test -c`, `go test`
// and `go vet` of a trivial test need is cached by running them on the warm
// module during the build.
var baseWarm = []string{"testing", "fmt", "os", "strings", "sync", "time", "errors"}

// recipeInputs are the hashed parts of the host that go into the image.
type recipeInputs struct {
	goroot    string
	goVersion string
	digest    string // of go binary, VERSION and busybox
	// files are the build context's small generated files (warm script and
	// module, labkit, the module proxy), hashed whole into the tag.
	files []contextFile
}

// contextFile is one file of the build context.
type contextFile struct {
	name string
	mode int64
	data []byte
}

// LabImage returns the tag (faultline-lab:<hash>) of the lab image for the
// warm list, building it first if the backend does not have it. warm lists
// standard-library import paths to pre-compile into the image's read-only
// GOCACHE ("testing" and what a trivial `go test -c` needs are always added).
// The image also holds labkit (labs.Labkit) at /labkit, the modules it
// requires in a file-based module proxy (taken from the host's module cache,
// downloaded there by the go command if missing), and labkit compiled into
// the warm cache. The hash covers the Go toolchain, the busybox binary,
// labkit, the required modules, the warm list and the recipe version.
// Concurrent callers share one build, which keeps running if a caller gives
// up. It returns EUNAVAILABLE when the orchestrator is down and an
// internal error when the build fails (with the build's last lines).
func (e *Engine) LabImage(ctx context.Context, warm []string) (string, error) {
	in, err := e.recipeInputs()
	if err != nil {
		return "", err
	}
	list, err := warmList(warm)
	if err != nil {
		return "", err
	}
	tag := imageTag(in, list)

	e.mu.Lock()
	known := e.images[tag] != ""
	e.mu.Unlock()
	if known {
		// Cheap check that nobody removed it behind our back.
		if ok, err := e.b.HasImage(ctx, tag); err != nil {
			return "", fmt.Errorf("lab image %s: %w", tag, err)
		} else if ok {
			return tag, nil
		}
		e.mu.Lock()
		delete(e.images, tag)
		e.mu.Unlock()
	}

	ch := e.builds.DoChan(tag, func() (any, error) {
		// The build outlives a caller that gives up: others may be waiting,
		// and a half-done build is wasted work.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
		defer cancel()
		if ok, err := e.b.HasImage(bctx, tag); err != nil {
			return nil, fmt.Errorf("lab image %s: %w", tag, err)
		} else if ok {
			return tag, nil
		}
		start := time.Now()
		e.log.Info("building lab image", "tag", tag, "go", in.goVersion, "warm", len(list))
		e.buildCount.Add(1)
		if err := e.buildImage(bctx, tag, in, list); err != nil {
			return nil, err
		}
		e.log.Info("built lab image", "tag", tag, "took", time.Since(start).Round(time.Millisecond))
		return tag, nil
	})
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("lab image %s: %w", tag, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		e.mu.Lock()
		e.images[tag] = tag
		e.mu.Unlock()
		return tag, nil
	}
}

// recipeTag returns the tag LabImage would use for warm.
func (e *Engine) recipeTag(warm []string) (string, error) {
	in, err := e.recipeInputs()
	if err != nil {
		return "", err
	}
	list, err := warmList(warm)
	if err != nil {
		return "", err
	}
	return imageTag(in, list), nil
}

// imageTag hashes everything that goes into the image.
func imageTag(in *recipeInputs, warm []string) string {
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n%s\n%s\n%s\n%s\n", recipeVersion, in.digest, dockerfile, warmScript, strings.Join(warm, " "))
	for _, f := range in.files {
		fmt.Fprintf(sum, "%s %o %d\n", f.name, f.mode, len(f.data))
		sum.Write(f.data)
	}
	return LabImageRepo + ":" + hex.EncodeToString(sum.Sum(nil))[:16]
}

// warmList validates, completes, sorts and deduplicates the warm list.
func warmList(warm []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range append(slices.Clone(baseWarm), warm...) {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n\"'\\;$`") || strings.Contains(p, "..") {
			return nil, fmt.Errorf("warm list: bad import path %q", p)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// recipeInputs finds the host GOROOT and hashes the toolchain and busybox,
// once per Engine.
func (e *Engine) recipeInputs() (*recipeInputs, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.recipe != nil {
		return e.recipe, nil
	}
	goroot, err := hostGoroot()
	if err != nil {
		return nil, err
	}
	version, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return nil, fmt.Errorf("read Go version in GOROOT %q: %w", goroot, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "VERSION\n%s\n", version)
	for _, f := range []string{filepath.Join(goroot, "bin", "go"), busyboxPath} {
		if err := hashFile(h, f); err != nil {
			return nil, err
		}
	}
	files, err := kitFiles(labs.Labkit(), labs.LabkitRequires())
	if err != nil {
		return nil, err
	}
	e.recipe = &recipeInputs{
		goroot:    goroot,
		goVersion: strings.SplitN(string(version), "\n", 2)[0],
		digest:    hex.EncodeToString(h.Sum(nil)),
		files:     files,
	}
	return e.recipe, nil
}

// kitFiles returns the build-context files for labkit and its required
// modules: kit/labkit/... (copied to /labkit), the warm script and module
// for them, and under kit/opt/faultline/goproxy/ a file-based module proxy
// (<escaped path>/@v/list, .info, .mod, .zip) made from the host's module
// cache. Modules missing from the cache are
// downloaded by the go command with the host's own settings.
func kitFiles(kit []faultline.File, requires []module.Version) ([]contextFile, error) {
	out := []contextFile{
		{"kit/opt/faultline/kitwarm.sh", 0o644, []byte(kitWarmScript)},
		{"kit/opt/faultline/kitwarm/go.mod", 0o644, labs.LabGoMod("faultline.local/kitwarm")},
		{"kit/opt/faultline/kitwarm/kitwarm_test.go", 0o644, []byte(kitWarmTest())},
	}
	for _, f := range kit {
		out = append(out, contextFile{"kit/" + labs.LabkitDir + "/" + f.Path, 0o644, f.Content})
	}
	for _, m := range requires {
		dl, err := downloadModule(m)
		if err != nil {
			return nil, err
		}
		esc, err := module.EscapePath(m.Path)
		if err != nil {
			return nil, fmt.Errorf("lab image: module %s: %w", m.Path, err)
		}
		ver, err := module.EscapeVersion(m.Version)
		if err != nil {
			return nil, fmt.Errorf("lab image: module %s: %w", m, err)
		}
		dir := "kit" + imageGoproxy + "/" + esc + "/@v/"
		out = append(out, contextFile{dir + "list", 0o644, []byte(m.Version + "\n")})
		for _, x := range []struct{ ext, file string }{{".info", dl.Info}, {".mod", dl.GoMod}, {".zip", dl.Zip}} {
			data, err := os.ReadFile(x.file)
			if err != nil {
				return nil, fmt.Errorf("lab image: module %s: %w", m, err)
			}
			out = append(out, contextFile{dir + ver + x.ext, 0o644, data})
		}
	}
	return out, nil
}

// downloaded is what `go mod download -json` reports about one module.
type downloaded struct {
	Info, GoMod, Zip string
	Error            string
}

// downloadModule returns the host module cache's files for m, running
// `go mod download` (outside any module, so a caller's go.mod or go.work
// does not matter).
func downloadModule(m module.Version) (*downloaded, error) {
	cmd := exec.Command("go", "mod", "download", "-json", m.Path+"@"+m.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var dl downloaded
	if jerr := json.Unmarshal(out, &dl); jerr != nil || err != nil || dl.Error != "" {
		msg := dl.Error
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if msg == "" && err != nil {
			msg = err.Error()
		}
		return nil, fmt.Errorf("lab image: get module %s from the host's module cache (go mod download): %s", m, msg)
	}
	if dl.Info == "" || dl.GoMod == "" || dl.Zip == "" {
		return nil, fmt.Errorf("lab image: go mod download %s reported no files", m)
	}
	return &dl, nil
}

func hashFile(h io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("hash %q: %w", name, err)
	}
	defer f.Close()
	fmt.Fprintf(h, "%s\n", name)
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash %q: %w", name, err)
	}
	return nil
}

// hostGoroot returns the GOROOT of the `go` on PATH, or of this binary's
// toolchain when there is none.
func hostGoroot() (string, error) {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if r := strings.TrimSpace(string(out)); r != "" {
			return r, nil
		}
	}
	if r := runtime.GOROOT(); r != "" { //nolint:staticcheck // fallback when go is not on PATH
		return r, nil
	}
	return "", fmt.Errorf("find GOROOT: no go command on PATH and no GOROOT recorded in the binary")
}

// dockerfile is the recipe. Every RUN is exec form: the image starts FROM
// scratch, so there is no shell until busybox installs one.
var dockerfile = `FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY warm/ /opt/faultline/
ENV ` + strings.Join(imageEnv, " ") + `
RUN ["/bin/sh", "/opt/faultline/warm.sh"]
COPY kit/ /
RUN ["/bin/sh", "/opt/faultline/kitwarm.sh"]
USER 65534:65534
WORKDIR /tmp
`

// warmScript runs inside the image build: it builds test2json and fills the
// cache, then makes it read-only for everyone but root. kitWarmScript then
// compiles labkit and the modules it requires where grading and sandboxes
// compile them
// (the build cache keys a package by its folder): in the grading tree
// (/tmp/g/labkit next to /tmp/g/lab, built with -vet=off) and next to the
// learner's /work (/labkit, built by go test and go vet), with the module
// cache at the same /tmp path.
const warmScript = `set -eu
mkdir -p /tmp /work /usr/local/bin
chmod 1777 /tmp
chmod 0755 /work
go build -o /usr/local/bin/test2json cmd/test2json
go build $(cat /opt/faultline/warm.list)
cd /opt/faultline/warm
go test -c -vet=off -o /tmp/warm.test .
/tmp/warm.test -test.v=test2json -test.count=1 | test2json -t -p warm >/dev/null
go test -count=1 . >/dev/null
go test -json -count=1 . >/dev/null
go vet .
cd /
rm -rf /tmp/* /tmp/.[!.]* 2>/dev/null || true
chmod -R a+rX,go-w /opt/faultline
`

// kitWarmScript runs after warmScript, in a later layer, so a changed
// labkit reuses the warmed standard library. What the go command adds to the
// cache is already 0644/0755 (umask 022); chmod only touches the copied-in
// files, since a chmod over the whole cache would copy it into this layer.
const kitWarmScript = `set -eu
mkdir -p /tmp/g
cp -r /labkit /tmp/g/labkit
cp -r /opt/faultline/kitwarm /tmp/g/lab
cd /tmp/g/lab
go test -c -vet=off -o /tmp/kitwarm.test .
/tmp/kitwarm.test -test.count=1 >/dev/null
cp -r /opt/faultline/kitwarm/. /work/
cd /work
go test -count=1 ./... >/dev/null
go test -json -count=1 . >/dev/null
go vet .
cd /
rm -rf /tmp/* /tmp/.[!.]* /work/* /work/.[!.]* 2>/dev/null || true
chmod -R a+rX,go-w /labkit /opt/faultline/goproxy /opt/faultline/kitwarm
`

// kitWarmTest is the warm module's test: it links labkit and what it
// requires, so compiling it fills the cache.
func kitWarmTest() string {
	var b strings.Builder
	b.WriteString("package kitwarm\n\nimport (\n\t\"testing\"\n\n\t_ \"" + labs.LabkitModule + "\"\n")
	for _, r := range labs.LabkitRequires() {
		b.WriteString("\t_ \"" + r.Path + "\"\n")
	}
	b.WriteString(")\n\nfunc TestKit(t *testing.T) {}\n")
	return b.String()
}

// buildImage streams a generated build context to the backend, which builds
// and tags it (and, for a registry-based backend, pushes it).
func (e *Engine) buildImage(ctx context.Context, tag string, in *recipeInputs, warm []string) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeBuildContext(pw, in.goroot, warm, in.files))
	}()
	defer pr.Close()
	err := e.b.BuildImage(ctx, tag, pr, map[string]string{
		LabelKind:            "lab-image",
		"faultline.recipe":   recipeVersion,
		"faultline.go":       in.goVersion,
		"faultline.warmlist": strings.Join(warm, " "),
	})
	if err != nil {
		return fmt.Errorf("build lab image: %w", err)
	}
	return nil
}

// writeBuildContext writes the build context tar: the Dockerfile; under
// rootfs/ busybox, passwd/group and the trimmed GOROOT; under kit/ labkit;
// under warm/ the warm script, list and modules and the module proxy (the
// kit files, from recipeInputs). They are separate COPY steps so a changed
// warm list or labkit reuses the engine's cached toolchain layer.
func writeBuildContext(w io.Writer, goroot string, warm []string, kit []contextFile) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	addFile := func(name string, mode int64, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
		return nil
	}
	addDir := func(name string, mode int64) error {
		hdr := &tar.Header{Name: name + "/", Mode: mode, ModTime: epoch, Typeflag: tar.TypeDir}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", name, err)
		}
		return nil
	}
	dirs := map[string]bool{}
	var mkdirs func(d string) error // d and its parents, once each
	mkdirs = func(d string) error {
		if d == "." || dirs[d] {
			return nil
		}
		if err := mkdirs(path.Dir(d)); err != nil {
			return err
		}
		dirs[d] = true
		return addDir(d, 0o755)
	}
	for _, d := range []string{"rootfs/bin", "rootfs/etc", "rootfs/usr/local", "warm/warm", "kit"} {
		if err := mkdirs(d); err != nil {
			return err
		}
	}
	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("build context: read busybox: %w", err)
	}
	files := []contextFile{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"rootfs/bin/busybox", 0o755, busybox},
		{"rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:learner:/tmp:/bin/sh\n")},
		{"rootfs/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"warm/warm.sh", 0o644, []byte(warmScript)},
		{"warm/warm.list", 0o644, []byte(strings.Join(warm, "\n") + "\n")},
		{"warm/warm/go.mod", 0o644, []byte("module faultline.local/warm\n\ngo 1.22\n")},
		{"warm/warm/warm.go", 0o644, []byte("package warm\n\n// Two returns 2.\nfunc Two() int { return 2 }\n")},
		{"warm/warm/warm_test.go", 0o644, []byte(warmTest)},
	}
	for _, f := range append(files, kit...) {
		if err := mkdirs(path.Dir(f.name)); err != nil {
			return err
		}
		if err := addFile(f.name, f.mode, f.data); err != nil {
			return err
		}
	}
	if err := addGoroot(tw, goroot, "rootfs/usr/local/go"); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: close: %w", err)
	}
	return nil
}

const warmTest = `package warm

import "testing"

func TestTwo(t *testing.T) {
	t.Parallel()
	t.Run("sub", func(t *testing.T) {
		if Two() != 2 {
			t.Fatal("two")
		}
	})
}
`

// skipGoroot reports whether a GOROOT entry (slash path relative to GOROOT)
// stays out of the image: tests, docs and test data are not needed to build.
func skipGoroot(rel string, isDir bool) bool {
	top, _, _ := strings.Cut(rel, "/")
	switch top {
	case "test", "api", "doc", "misc", ".git":
		return true
	}
	base := path.Base(rel)
	if isDir {
		return base == "testdata"
	}
	return top == "src" && strings.HasSuffix(base, "_test.go")
}

// addGoroot copies the host GOROOT into the tar under prefix, trimmed.
func addGoroot(tw *tar.Writer, goroot, prefix string) error {
	if err := tw.WriteHeader(&tar.Header{Name: prefix + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
		return fmt.Errorf("build context: %s: %w", prefix, err)
	}
	return filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("build context: walk %q: %w", p, err)
		}
		if p == goroot {
			return nil
		}
		rel, err := filepath.Rel(goroot, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skipGoroot(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("build context: stat %q: %w", p, err)
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("build context: readlink %q: %w", p, err)
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices: never part of a toolchain
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("build context: header %q: %w", p, err)
		}
		hdr.Name = prefix + "/" + rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Mode |= 0o444 // world-readable; directories and tools keep their x bits
		if info.IsDir() {
			hdr.Mode |= 0o111
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", hdr.Name, err)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("build context: open %q: %w", p, err)
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, info.Size()); err != nil {
			return fmt.Errorf("build context: copy %q: %w", p, err)
		}
		return nil
	})
}
