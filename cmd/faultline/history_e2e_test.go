package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestResetAndRestoreInBrowser drives a real Chromium through the real portal
// and store: a learner saves breaker.go, resets the lab to the starter files
// through the confirmation page, then restores the restore point the reset
// made and sees the saved text again; the file's history keeps every version.
func TestResetAndRestoreInBrowser(t *testing.T) {
	m := MustServe(t, t.TempDir())
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	const email = "ada@example.com"
	b.setupAdmin(m)

	// Save through the plain form (the editor bundle, when built, keeps the
	// textarea as the form's source of truth).
	const mine = "package circuitbreaker\n\n// my own attempt, kept across a reset\n"
	fileURL := base + "/labs/circuit-breaker?file=breaker.go"
	b.do("save", 30*time.Second,
		chromedp.Navigate(fileURL),
		chromedp.WaitReady(tid("editor-content")),
		chromedp.SetValue(tid("editor-content"), mine),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[data-testid="editor"]').submit()`),
		chromedp.WaitReady(tid("notice")),
	)

	// Reset: the button asks first, confirming replaces the files.
	b.do("reset", 30*time.Second,
		showTab("history"),
		chromedp.Click(tid("reset")),
		chromedp.WaitVisible(tid("confirm-text")),
		chromedp.Click(tid("confirm")),
		chromedp.WaitVisible(tid("restore-point")),
	)
	b.do("open after reset", 15*time.Second,
		chromedp.Navigate(fileURL),
		chromedp.WaitReady(tid("editor-content")),
	)
	if got := get(b, "text after reset", chromedp.Value(tid("editor-content"))); strings.Contains(got, "my own attempt") {
		t.Fatalf("after the reset breaker.go still holds the learner's text:\n%s", got)
	}

	// Restore the point the reset made.
	b.do("restore", 30*time.Second,
		showTab("history"),
		chromedp.Click(tid("restore")),
		chromedp.WaitVisible(tid("confirm-text")),
		chromedp.Click(tid("confirm")),
		chromedp.WaitVisible(tid("notice")),
		chromedp.Navigate(fileURL),
		chromedp.WaitReady(tid("editor-content")),
	)
	if got := get(b, "text after restore", chromedp.Value(tid("editor-content"))); got != mine {
		t.Fatalf("after the restore breaker.go holds %q, want %q", got, mine)
	}

	ctx := context.Background()
	u, err := m.DB.FindUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := m.DB.FileHistory(ctx, u.ID, "circuit-breaker", "breaker.go")
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: restored, starter from the reset, the first save.
	if len(hist) != 3 || string(hist[0].Content) != mine || string(hist[2].Content) != mine {
		t.Errorf("breaker.go has %d versions, want 3 (saved, starter, restored)", len(hist))
	}
}
