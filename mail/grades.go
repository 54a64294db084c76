package mail

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// GradeMailer emails learners the grades they did not wait for: a regrade
// that changed a submission's score. (A learner who submits watches the
// grade arrive on the page; an email for each would be noise.) It follows
// the results table with a cursor kept in the database, so a restart
// neither loses nor repeats a notice.
type GradeMailer struct {
	Events   faultline.GradeEventService
	Users    faultline.UserService
	Notifier faultline.Notifier
	LabTitle func(slug string) string
	BaseURL  string
	Logger   *slog.Logger
}

// gradeCursor names the mailer's cursor over the results table.
const gradeCursor = "mail-grades"

// Once sends the notices for results stored since the last call. The first
// call starts at the newest result.
func (g *GradeMailer) Once(ctx context.Context) error {
	after, err := g.Events.EventCursor(ctx, gradeCursor)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		latest, err := g.Events.LatestResultID(ctx)
		if err != nil {
			return err
		}
		return g.Events.SetEventCursor(ctx, gradeCursor, latest)
	} else if err != nil {
		return err
	}
	for {
		evs, err := g.Events.GradeEvents(ctx, after, 200)
		if err != nil || len(evs) == 0 {
			return err
		}
		for _, e := range evs {
			if err := g.notify(ctx, e); err != nil {
				return err
			}
			// One notice at most per result, even if a later one fails.
			if err := g.Events.SetEventCursor(ctx, gradeCursor, e.ResultID); err != nil {
				return err
			}
			after = e.ResultID
		}
	}
}

func (g *GradeMailer) notify(ctx context.Context, e faultline.GradeEvent) error {
	if !e.Regrade || e.Status == faultline.StatusError || e.Score == e.PrevScore {
		return nil
	}
	u, err := g.Users.FindUserByID(ctx, e.UserID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil
	} else if err != nil {
		return fmt.Errorf("grade mail: user %d: %w", e.UserID, err)
	}
	if strings.HasSuffix(u.Email, ".invalid") {
		return nil // an LMS account without a real address
	}
	title := e.Lab
	if g.LabTitle != nil {
		title = g.LabTitle(e.Lab)
	}
	err = g.Notifier.Notify(ctx, faultline.GradeNotice{
		To: faultline.Recipient{UserID: u.ID, Email: u.Email, Name: u.Name}, Lab: e.Lab, LabTitle: title,
		Score: e.Score, MaxScore: e.MaxScore, Previous: e.PrevScore,
		URL: strings.TrimRight(g.BaseURL, "/") + "/submissions/" + strconv.FormatInt(e.SubmissionID, 10),
	})
	if faultline.ErrorCode(err) == faultline.EINVALID {
		if g.Logger != nil {
			g.Logger.WarnContext(ctx, "grade mail not sent", "user", u.ID, "err", err)
		}
		return nil
	}
	return err
}

// Run calls Once every poll until ctx ends; errors are logged and retried.
func (g *GradeMailer) Run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := g.Once(ctx); err != nil && ctx.Err() == nil && g.Logger != nil {
			g.Logger.WarnContext(ctx, "grade mail", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
