package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/faultline-dev/faultline"
)

// At shutdown every open terminal is closed with 1001 and its shell and
// what it started are killed; a terminal opened afterwards is refused with
// 1001 at once.
func TestTerminalsClosedAtShutdown(t *testing.T) {
	site := MustTermSite(t)
	e := site.e
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard
	defer cancel()
	_, lc := MustCatalogs(t)
	lab := lc.All()[0]
	ada := e.MustUser("Ada Learner", faultline.RoleLearner)
	adaB := e.MustLogin(ada)
	if _, err := site.mgr.Start(ctx, ada.ID, lab, nil, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}

	c1 := site.MustDial(t, ctx, adaB, lab.Slug, "")
	c2 := site.MustDial(t, ctx, adaB, lab.Slug, "")
	c1.MustSend(t, ctx, websocket.MessageBinary, "sleep 4343 & echo one-$((1+1))\n")
	c1.MustSee(t, ctx, 0, "one-2")
	c2.MustSend(t, ctx, websocket.MessageBinary, "sleep 4344 & echo two-$((1+2))\n")
	c2.MustSee(t, ctx, 0, "two-3")
	if ps := site.MustPS(t, ctx, ada.ID, lab.Slug); !strings.Contains(ps, "sleep 4343") || !strings.Contains(ps, "sleep 4344") || loginShells(ps) != 3 {
		t.Fatalf("before shutdown, want both sleeps and three login shells:\n%s", ps)
	}

	if err := e.srv.CloseTerminals(ctx); err != nil {
		t.Fatalf("CloseTerminals: %v", err)
	}
	for i, c := range []*wsClient{c1, c2} {
		if ce := c.MustClosed(t, ctx); ce.Code != websocket.StatusGoingAway || ce.Reason != reasonGoingAway {
			t.Errorf("terminal %d: close %d %q, want 1001 %q", i+1, ce.Code, ce.Reason, reasonGoingAway)
		}
	}
	// CloseTerminals returned once the handlers had killed the shells; a
	// killed process may linger a moment as a zombie, which ps still lists.
	for {
		ps := site.MustPS(t, ctx, ada.ID, lab.Slug)
		if !strings.Contains(ps, "sleep 434") && loginShells(ps) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the closed terminals' processes live on:\n%s", ps)
		case <-time.After(100 * time.Millisecond):
		}
	}

	c3 := site.MustDial(t, ctx, adaB, lab.Slug, "")
	if ce := c3.MustClosed(t, ctx); ce.Code != websocket.StatusGoingAway {
		t.Errorf("terminal opened during shutdown: close %d %q, want 1001", ce.Code, ce.Reason)
	}
	if err := e.srv.CloseTerminals(ctx); err != nil {
		t.Errorf("CloseTerminals again: %v", err)
	}
}
