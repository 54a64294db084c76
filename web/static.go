package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline/web/views"
)

// static/bundle holds the lab page's bundle built from web/ui by `make ui`
// (gitignored). Only its README is committed, so the embed always has
// something and the portal builds without the bundle; pages then work with
// plain forms.
//
//go:embed static/app.css static/app.js static/live.js static/talk.css static/talk.js static/bundle
var staticFS embed.FS

// bundleFiles are the bundle's output files, served flat as /static/{name}.
var bundleFiles = []struct{ name, ctype string }{
	{"lab.js", "text/javascript; charset=utf-8"},
	{"lab.css", "text/css; charset=utf-8"},
	{"terminal.js", "text/javascript; charset=utf-8"},
}

// asset is one static file served from memory.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets are the static files and their versioned URLs.
type assets struct {
	files  map[string]*asset
	urls   views.Assets
	bundle views.Bundle // zero when the bundle was not built
}

func newAssets(highlightCSS string) (*assets, error) {
	return newAssetsFrom(staticFS, highlightCSS)
}

// newAssetsFrom reads the assets from fsys, laid out like staticFS.
func newAssetsFrom(fsys fs.FS, highlightCSS string) (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	add := func(name, ctype string, body []byte) string {
		sum := sha256.Sum256(body)
		v := hex.EncodeToString(sum[:])[:12]
		a.files[name] = &asset{body: body, ctype: ctype, etag: `"` + v + `"`}
		return "/static/" + name + "?v=" + v
	}
	css, err := fs.ReadFile(fsys, "static/app.css")
	if err != nil {
		return nil, fmt.Errorf("read embedded app.css: %w", err)
	}
	js, err := fs.ReadFile(fsys, "static/app.js")
	if err != nil {
		return nil, fmt.Errorf("read embedded app.js: %w", err)
	}
	live, err := fs.ReadFile(fsys, "static/live.js")
	if err != nil {
		return nil, fmt.Errorf("read embedded live.js: %w", err)
	}
	a.urls = views.Assets{
		CSS:       add("app.css", "text/css; charset=utf-8", css),
		JS:        add("app.js", "text/javascript; charset=utf-8", js),
		Live:      add("live.js", "text/javascript; charset=utf-8", live),
		Highlight: add("highlight.css", "text/css; charset=utf-8", []byte(highlightCSS)),
	}
	if err := addTalkAssets(fsys, &a.urls, add); err != nil { // talk.go
		return nil, err
	}
	// The bundle is used only when all of it is there.
	bodies := make([][]byte, len(bundleFiles))
	for i, f := range bundleFiles {
		body, err := fs.ReadFile(fsys, "static/bundle/"+f.name)
		if errors.Is(err, fs.ErrNotExist) {
			return a, nil
		} else if err != nil {
			return nil, fmt.Errorf("read embedded bundle file %s: %w", f.name, err)
		}
		bodies[i] = body
	}
	urls := map[string]string{}
	for i, f := range bundleFiles {
		urls[f.name] = add(f.name, f.ctype, bodies[i])
	}
	a.bundle = views.Bundle{JS: urls["lab.js"], CSS: urls["lab.css"], Terminal: urls["terminal.js"]}
	return a, nil
}

// serveStatic serves /static/{name} from memory with an ETag; the page links
// carry a content hash, so the files may be cached for long.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := s.assets.files[chi.URLParam(r, "name")]
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no such file.", false)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	if r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.body)
}
