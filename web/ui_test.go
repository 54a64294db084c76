package web

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

// withStatic swaps the server's embedded static files for fsys: a tree with
// or without the lab page bundle, whatever the working tree has built.
func (e *env) withStatic(fsys fs.FS) {
	e.t.Helper()
	a, err := newAssetsFrom(fsys, "")
	if err != nil {
		e.t.Fatalf("assets: %v", err)
	}
	e.srv.assets = a
}

// staticTree is static/ as embedded, with the bundle files named in extra.
func staticTree(extra ...string) fstest.MapFS {
	m := fstest.MapFS{
		"static/app.css":            {Data: []byte("body{}")},
		"static/app.js":             {Data: []byte("// app")},
		"static/live.js":            {Data: []byte("// live")},
		"static/bundle/README.md":   {Data: []byte("built by make ui")},
		"static/bundle/ignored.txt": {Data: []byte("x")},
	}
	for _, name := range extra {
		m["static/bundle/"+name] = &fstest.MapFile{Data: []byte("/* " + name + " */")}
	}
	return m
}

// mustPlainEditor checks the page's editor is the plain form the page has
// without JavaScript: a path, a textarea with the selected file, a save button.
func mustPlainEditor(t *testing.T, res *response, path, content string) {
	t.Helper()
	form := res.testid("editor")
	if form.Length() != 1 || form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/labs/"+labSlug+"/files" {
		t.Fatalf("no plain save form on the lab page:\n%.2000s", res.body)
	}
	if got := form.Find(`input[name="path"]`).AttrOr("value", ""); got != path {
		t.Errorf("path field %q, want %q", got, path)
	}
	ta := form.Find(`textarea[name="content"][data-testid="editor-content"]`)
	if ta.Length() != 1 || ta.Text() != content {
		t.Errorf("textarea holds %q, want %q", ta.Text(), content)
	}
	if form.Find(`button[type="submit"][data-testid="save-file"]`).Length() != 1 {
		t.Error("no save button in the editor form")
	}
}

func bundleRefs(d *goquery.Document) (scripts, styles []string) {
	d.Find("script[src]").Each(func(_ int, s *goquery.Selection) { scripts = append(scripts, s.AttrOr("src", "")) })
	d.Find(`link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) { styles = append(styles, s.AttrOr("href", "")) })
	return scripts, styles
}

func TestLabPageBundleOptional(t *testing.T) {
	for name, tree := range map[string]fstest.MapFS{
		"absent":    staticTree(),
		"only js":   staticTree("lab.js"),
		"no js":     staticTree("lab.css", "terminal.js"),
		"all files": staticTree("lab.js", "lab.css", "terminal.js"),
	} {
		t.Run(name, func(t *testing.T) {
			e := MustEnv(t)
			e.withStatic(tree)
			u := e.MustUser("Lea Learner", faultline.RoleLearner)
			b := e.MustLogin(u)
			lab := e.mustLab(labSlug)
			first := defaultFile(lab.Starter)
			var starter string
			for _, f := range lab.Starter {
				if f.Path == first {
					starter = string(f.Content)
				}
			}

			res := b.get("/labs/" + labSlug)
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			// With or without the bundle, the plain form is there.
			mustPlainEditor(t, res, first, starter)
			d := res.doc()
			scripts, styles := bundleRefs(d)
			withBundle := name == "all files"
			refs := strings.Contains(strings.Join(scripts, " "), "/static/lab.js") ||
				strings.Contains(strings.Join(styles, " "), "/static/lab.css")
			if refs != withBundle {
				t.Fatalf("page references the bundle = %v, want %v (scripts %v, styles %v)", refs, withBundle, scripts, styles)
			}
			if got := d.Find("template#lab-files").Length(); got != map[bool]int{true: 1}[withBundle] {
				t.Errorf("%d file templates for the editor, want one only with the bundle", got)
			}
			if d.Find("script:not([src])").Length() != 0 {
				t.Error("an inline script on the lab page")
			}
			if !withBundle {
				if r := b.get("/static/lab.js"); r.status != http.StatusNotFound {
					t.Errorf("GET /static/lab.js without a full bundle: %d, want 404", r.status)
				}
				// The plain form saves as before: a redirect back with a notice.
				r := b.post("/labs/"+labSlug+"/files", url.Values{"path": {first}, "content": {"package x // plain\n"}})
				if r.status != http.StatusSeeOther {
					t.Fatalf("plain save: %d", r.status)
				}
				return
			}

			// The bundle: a module script and its stylesheet, both served.
			var js string
			for _, s := range scripts {
				if strings.HasPrefix(s, "/static/lab.js?v=") {
					js = s
				}
			}
			if js == "" || d.Find(`script[type="module"][src^="/static/lab.js?v="]`).Length() != 1 {
				t.Fatalf("bundle script not loaded as a module: %v", scripts)
			}
			if r := b.get(js); r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || r.body != "/* lab.js */" {
				t.Errorf("GET %s: %d %q %q", js, r.status, r.header.Get("Content-Type"), r.body)
			}
			if r := b.get("/static/ignored.txt"); r.status != http.StatusNotFound {
				t.Errorf("a stray file in the bundle folder is served: %d", r.status)
			}
			// Every listed file goes to the editor with its content; visible
			// tests are marked read-only; hidden tests never.
			got := map[string]*goquery.Selection{}
			d.Find("template#lab-files code[data-path]").Each(func(_ int, s *goquery.Selection) { got[s.AttrOr("data-path", "")] = s })
			for _, f := range lab.Starter {
				c := got[f.Path]
				if c == nil || c.Text() != string(f.Content) || c.AttrOr("data-readonly", "no") != "no" {
					t.Errorf("starter file %s not handed to the editor as editable with its content", f.Path)
				}
			}
			for _, f := range lab.Visible {
				if c := got[f.Path]; c == nil || c.AttrOr("data-readonly", "no") == "no" {
					t.Errorf("visible test %s not handed to the editor as read-only", f.Path)
				}
			}
			handed := d.Find("template#lab-files").Text()
			for _, tt := range lab.Tests {
				if tt.Hidden && strings.Contains(handed, tt.Name) {
					t.Errorf("hidden test %s handed to the editor", tt.Name)
				}
			}
		})
	}
}

// The terminal panel shows only for a running sandbox; its note says it needs
// JavaScript, which the bundle replaces.
func TestLabTerminalPanel(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	if res := b.get("/labs/" + labSlug); res.testid("terminal").Length() != 0 {
		t.Error("a terminal panel before the sandbox runs")
	}
	if res := b.post("/labs/"+labSlug+"/sandbox", nil); res.status != http.StatusSeeOther {
		t.Fatalf("start: %d", res.status)
	}
	res := b.get("/labs/" + labSlug)
	term := res.testid("terminal")
	if term.Length() != 1 || term.AttrOr("data-url", "") != "/labs/"+labSlug+"/terminal" {
		t.Fatalf("terminal panel %d with url %q", term.Length(), term.AttrOr("data-url", ""))
	}
	if note := term.Find(`[data-testid="terminal-note"]`).Text(); !strings.Contains(note, "needs JavaScript") {
		t.Errorf("terminal note %q", note)
	}
	if _, ok := term.Attr("data-module"); ok != e.srv.assets.bundle.Present() {
		t.Errorf("terminal names its module: %v; bundle built: %v", ok, e.srv.assets.bundle.Present())
	}
	// With the bundle, the terminal's module is named by its versioned URL.
	e.withStatic(staticTree("lab.js", "lab.css", "terminal.js"))
	term = b.get("/labs/" + labSlug).testid("terminal")
	if mod := term.AttrOr("data-module", ""); !strings.HasPrefix(mod, "/static/terminal.js?v=") {
		t.Errorf("terminal module %q", mod)
	} else if r := b.get(mod); r.status != http.StatusOK || r.body != "/* terminal.js */" {
		t.Errorf("GET %s: %d %q", mod, r.status, r.body)
	}
}

// postJSON posts a form asking for a JSON answer, as the editor's autosave does.
func (b *browser) postJSON(path string, form url.Values) (*response, saveReply) {
	b.e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res := b.do(req)
	var reply saveReply
	if !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		b.e.t.Fatalf("POST %s asking for JSON: %d %s\n%.500s", path, res.status, res.header.Get("Content-Type"), res.body)
	}
	if err := json.Unmarshal([]byte(res.body), &reply); err != nil {
		b.e.t.Fatalf("POST %s: bad JSON %q: %v", path, res.body, err)
	}
	return res, reply
}

func TestSaveFileJSON(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	lab := e.mustLab(labSlug)
	target := defaultFile(lab.Starter)
	files := func() map[string]string {
		t.Helper()
		vs, err := e.db.Files(t.Context(), u.ID, labSlug)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, f := range vs {
			m[f.Path] = string(f.Content)
		}
		return m
	}

	res, reply := b.postJSON("/labs/"+labSlug+"/files", url.Values{"path": {target}, "content": {"package x\r\n// autosaved\r\n"}})
	if res.status != http.StatusOK || !reply.Saved || reply.Path != target || reply.Error != "" {
		t.Fatalf("JSON save: %d %+v", res.status, reply)
	}
	if got := files()[target]; got != "package x\n// autosaved\n" {
		t.Fatalf("stored %q after a JSON save", got)
	}

	// Running sandbox: the file is written into it too.
	b.post("/labs/"+labSlug+"/sandbox", nil)
	if _, reply := b.postJSON("/labs/"+labSlug+"/files", url.Values{"path": {target}, "content": {"package x // v2\n"}}); !reply.Saved {
		t.Fatalf("JSON save with a sandbox: %+v", reply)
	}
	if got, ok := e.sb.sandboxFile(u.ID, labSlug, target); !ok || got != "package x // v2\n" {
		t.Errorf("sandbox has %q, %v", got, ok)
	}

	// User errors come back as JSON with their status; nothing is stored.
	for name, c := range map[string]struct {
		form   url.Values
		status int
		msg    string
	}{
		"bad path":     {url.Values{"path": {"../x.go"}, "content": {"x"}}, http.StatusUnprocessableEntity, ""},
		"visible test": {url.Values{"path": {lab.Visible[0].Path}, "content": {"x"}}, http.StatusUnprocessableEntity, "cannot be changed"},
		"too large":    {url.Values{"path": {"big.go"}, "content": {strings.Repeat("x", faultline.MaxFileSize+1)}}, http.StatusRequestEntityTooLarge, "Nothing was saved"},
	} {
		res, reply := b.postJSON("/labs/"+labSlug+"/files", c.form)
		if res.status != c.status || reply.Saved || reply.Error == "" || !strings.Contains(reply.Error, c.msg) {
			t.Errorf("%s: %d %+v, want %d with an error saying %q", name, res.status, reply, c.status, c.msg)
		}
	}
	if got := files(); len(got) != 1 {
		t.Errorf("after refused saves the store has %v", got)
	}
}
