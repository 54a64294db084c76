package web

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/faultline-dev/faultline/web/views"
)

// addTalkAssets adds the conversation's stylesheet and script (discussions,
// feedback, the inbox, office hours) to the static files. A tree without
// them (a test's) serves pages without them, as it does without the bundle.
func addTalkAssets(fsys fs.FS, urls *views.Assets, add func(name, ctype string, body []byte) string) error {
	css, err := fs.ReadFile(fsys, "static/talk.css")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read embedded talk.css: %w", err)
	}
	js, err := fs.ReadFile(fsys, "static/talk.js")
	if err != nil {
		return fmt.Errorf("read embedded talk.js: %w", err)
	}
	urls.Talk = add("talk.css", "text/css; charset=utf-8", css)
	urls.TalkJS = add("talk.js", "text/javascript; charset=utf-8", js)
	return nil
}
