package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

func memberURL(c *faultline.Cohort, u *faultline.User, what string) string {
	return cohortURL(c.ID) + "/members/" + strconv.FormatInt(u.ID, 10) + "/" + what
}

func TestInviteExpiryAndRegenerate(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	c := e.MustCohort("Spring", inst)
	b := e.MustLogin(inst)

	// A bad date comes back as EINVALID.
	if res := b.post(cohortURL(c.ID)+"/invite", url.Values{"action": {"expiry"}, "expires": {"next tuesday"}}); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad expiry: status %d", res.status)
	}
	exp := e.clock.Now().Add(time.Hour).UTC().Truncate(time.Minute)
	if res := b.post(cohortURL(c.ID)+"/invite", url.Values{"action": {"expiry"}, "expires": {exp.Format("2006-01-02T15:04")}}); res.status != http.StatusSeeOther {
		t.Fatalf("set expiry: status %d\n%s", res.status, res.body)
	}
	page := b.get(cohortURL(c.ID))
	if got := page.testid("invite-expiry").Text(); !strings.Contains(got, "works until "+fmtTime(exp)) {
		t.Fatalf("expiry line %q", got)
	}
	if v, _ := page.testid("invite-expires").Attr("value"); v != exp.Format("2006-01-02T15:04") {
		t.Errorf("expiry input %q", v)
	}
	if res := e.browser().get("/join/" + c.InviteCode); res.status != http.StatusOK {
		t.Fatalf("join before expiry: status %d", res.status)
	}
	e.clock.Add(2 * time.Hour)
	res := e.browser().get("/join/" + c.InviteCode)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "This invite link expired on") || !strings.Contains(res.body, "Ask your instructor for a new one") {
		t.Fatalf("expired join: status %d\n%s", res.status, res.body)
	}
	if res := e.browser().post("/join/"+c.InviteCode, url.Values{"name": {"Late Larry"}, "email": {"larry@example.com"}, "password": {"a long password 1"}, "confirm": {"a long password 1"}}); res.status != http.StatusForbidden {
		t.Fatalf("expired join POST: status %d", res.status)
	}
	if got := b.get(cohortURL(c.ID)).testid("invite-expiry").Text(); !strings.Contains(got, "expired") {
		t.Errorf("expired line %q", got)
	}

	// Regenerating replaces the code, keeps the expiry; the old link is dead.
	if res := b.post(cohortURL(c.ID)+"/invite", url.Values{"action": {"regenerate"}}); res.status != http.StatusSeeOther {
		t.Fatalf("regenerate: status %d", res.status)
	}
	c2, err := e.db.FindCohortByID(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c2.InviteCode == c.InviteCode || !c2.InviteExpiresAt.Equal(exp) {
		t.Fatalf("after regenerate: code changed %v, expiry %v", c2.InviteCode != c.InviteCode, c2.InviteExpiresAt)
	}
	if res := e.browser().get("/join/" + c.InviteCode); res.status != http.StatusNotFound {
		t.Errorf("old link: status %d", res.status)
	}
	// Clearing the expiry makes the new link work.
	if res := b.post(cohortURL(c.ID)+"/invite", url.Values{"action": {"expiry"}, "expires": {""}}); res.status != http.StatusSeeOther {
		t.Fatalf("clear expiry: status %d", res.status)
	}
	if res := e.browser().get("/join/" + c2.InviteCode); res.status != http.StatusOK {
		t.Errorf("new link: status %d", res.status)
	}
}

func TestRosterRolesRemoveAndMove(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	co := e.MustUser("Cora Colleague", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, co, lea)
	other := e.MustCohort("Autumn", inst)
	sub := e.MustSubmission(lea, labSlug)
	b := e.MustLogin(inst)
	cb := e.MustLogin(co)

	// As a learner of the cohort, co sees neither the dashboard nor Lea's work.
	if res := cb.get(cohortURL(c.ID)); res.status != http.StatusNotFound {
		t.Fatalf("learner on dashboard: status %d", res.status)
	}
	if res := cb.get(submissionURL(sub.ID)); res.status != http.StatusNotFound {
		t.Fatalf("learner on another's submission: status %d", res.status)
	}
	if res := b.post(memberURL(c, co, "role"), url.Values{"role": {"instructor"}}); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("role instructor: status %d", res.status)
	}
	if res := b.post(memberURL(c, co, "role"), url.Values{"role": {"co_instructor"}}); res.status != http.StatusSeeOther {
		t.Fatalf("make co-instructor: status %d\n%s", res.status, res.body)
	}
	if r, _ := e.db.MemberRole(ctx, c.ID, co.ID); r != faultline.MemberCoInstructor {
		t.Fatalf("role %q", r)
	}
	page := cb.get(cohortURL(c.ID))
	if page.status != http.StatusOK {
		t.Fatalf("co-instructor on dashboard: status %d", page.status)
	}
	roles := map[string]string{}
	page.testid("member").Each(func(_ int, s *goquery.Selection) {
		email, _ := s.Attr("data-email")
		roles[email], _ = s.Find(`[data-testid="member-role"]`).Attr("data-role")
	})
	if roles[co.Email] != "co_instructor" || roles[inst.Email] != "instructor" || roles[lea.Email] != "learner" {
		t.Fatalf("roles shown %v", roles)
	}
	if res := cb.get(submissionURL(sub.ID)); res.status != http.StatusOK {
		t.Fatalf("co-instructor on submission: status %d", res.status)
	}
	// A co-instructor cannot remove the last instructor; the store says why.
	res := cb.post(memberURL(c, inst, "remove"), nil)
	if res.status != http.StatusConflict || !strings.Contains(res.body, "A cohort needs an instructor") {
		t.Fatalf("remove last instructor: status %d\n%s", res.status, res.body)
	}
	// The instructor's own role cannot be changed from the roster.
	if res := cb.post(memberURL(c, inst, "role"), url.Values{"role": {"learner"}}); res.status != http.StatusConflict {
		t.Fatalf("demote instructor: status %d", res.status)
	}

	// Moving: only to a cohort the mover teaches.
	if res := cb.post(memberURL(c, lea, "move"), url.Values{"to": {strconv.FormatInt(other.ID, 10)}}); res.status != http.StatusNotFound {
		t.Fatalf("co-instructor moves to a cohort they do not teach: status %d", res.status)
	}
	if res := b.post(memberURL(c, lea, "move"), url.Values{"to": {strconv.FormatInt(other.ID, 10)}}); res.status != http.StatusSeeOther {
		t.Fatalf("move: status %d\n%s", res.status, res.body)
	}
	if _, err := e.db.MemberRole(ctx, c.ID, lea.ID); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("still in the old cohort: %v", err)
	}
	if r, err := e.db.MemberRole(ctx, other.ID, lea.ID); err != nil || r != faultline.MemberLearner {
		t.Fatalf("in the new cohort: %q %v", r, err)
	}

	// Removal: confirmation says the work is kept; afterwards it still exists.
	confirm := b.get(memberURL(other, lea, "remove"))
	if confirm.status != http.StatusOK || !strings.Contains(confirm.testid("remove-confirm").Text(), "submissions, saved files and lesson progress are kept") {
		t.Fatalf("confirm page: status %d\n%s", confirm.status, confirm.body)
	}
	if res := b.post(memberURL(other, lea, "remove"), nil); res.status != http.StatusSeeOther {
		t.Fatalf("remove: status %d", res.status)
	}
	if _, err := e.db.MemberRole(ctx, other.ID, lea.ID); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("still a member: %v", err)
	}
	if got, err := e.db.FindSubmission(ctx, sub.ID); err != nil || got.UserID != lea.ID {
		t.Fatalf("submission after removal: %v", err)
	}
	if res := b.post(memberURL(other, lea, "remove"), nil); res.status != http.StatusNotFound {
		t.Errorf("remove again: status %d", res.status)
	}
	// Demoting the co-instructor takes the dashboard away again.
	if res := b.post(memberURL(c, co, "role"), url.Values{"role": {"learner"}}); res.status != http.StatusSeeOther {
		t.Fatalf("make learner: status %d", res.status)
	}
	if res := cb.get(cohortURL(c.ID)); res.status != http.StatusNotFound {
		t.Errorf("demoted co-instructor on dashboard: status %d", res.status)
	}
}

// Every roster and settings route refuses learners and instructors of other cohorts.
func TestRosterRoutesRefuseOutsiders(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	stranger := e.MustUser("Sam Stranger", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, lea)
	e.MustCohort("Elsewhere", stranger)
	settings := labSettingsURL(c.ID, labSlug)
	for _, who := range []*faultline.User{lea, stranger} {
		b := e.MustLogin(who)
		for _, get := range []string{memberURL(c, lea, "remove"), settings} {
			if res := b.get(get); res.status != http.StatusNotFound {
				t.Errorf("%s GET %s: status %d", who.Name, get, res.status)
			}
		}
		for path, form := range map[string]url.Values{
			cohortURL(c.ID) + "/invite":  {"action": {"regenerate"}},
			memberURL(c, lea, "role"):    {"role": {"co_instructor"}},
			memberURL(c, lea, "remove"):  nil,
			memberURL(c, lea, "move"):    {"to": {"1"}},
			memberURL(c, inst, "remove"): nil,
			settings:                     {"late": {"refuse"}},
		} {
			if res := b.post(path, form); res.status != http.StatusNotFound {
				t.Errorf("%s POST %s: status %d", who.Name, path, res.status)
			}
		}
	}
	ctx := context.Background()
	if r, err := e.db.MemberRole(ctx, c.ID, lea.ID); err != nil || r != faultline.MemberLearner {
		t.Fatalf("learner changed by outsiders: %q %v", r, err)
	}
	if st, err := e.db.LabSettings(ctx, c.ID, labSlug); err != nil || st.Late.Mode == faultline.LateRefuse {
		t.Fatalf("settings changed by outsiders: %+v %v", st, err)
	}
}

func TestLabSettingsForm(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	c := e.MustCohort("Spring", inst)
	b := e.MustLogin(inst)
	path := labSettingsURL(c.ID, labSlug)

	page := b.get(path)
	if page.status != http.StatusOK || !strings.Contains(page.body, "UTC") {
		t.Fatalf("GET: status %d", page.status)
	}
	if b.get(labSettingsURL(c.ID, "no-such-lab")).status != http.StatusNotFound {
		t.Error("unknown lab not 404")
	}
	good := url.Values{
		"opens_at": {"2030-03-01T09:00"}, "due_at": {"2030-03-15T17:30"},
		"late": {"penalty"}, "per_day": {"10"}, "cap": {"50"},
		"max_submissions": {"5"}, "per_minute": {"2"}, "visibility": {"after_due"},
	}
	res := b.post(path, good)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != path+"?saved=1" {
		t.Fatalf("POST: status %d %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	st, err := e.db.LabSettings(context.Background(), c.ID, labSlug)
	if err != nil {
		t.Fatal(err)
	}
	want := faultline.LabSettings{
		CohortID: c.ID, Lab: labSlug,
		OpensAt:        time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC),
		DueAt:          time.Date(2030, 3, 15, 17, 30, 0, 0, time.UTC),
		Late:           faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 50},
		MaxSubmissions: 5, PerMinute: 2, Visibility: faultline.TestsAfterDue,
	}
	st.UpdatedAt = time.Time{}
	if !st.OpensAt.Equal(want.OpensAt) || !st.DueAt.Equal(want.DueAt) {
		t.Fatalf("dates %v %v", st.OpensAt, st.DueAt)
	}
	st.OpensAt, st.DueAt = want.OpensAt, want.DueAt
	if *st != want {
		t.Fatalf("stored %+v\nwant   %+v", *st, want)
	}
	page = b.get(path + "?saved=1")
	if page.testid("settings-saved").Length() != 1 {
		t.Error("no saved notice")
	}
	d := page.doc()
	if v, _ := d.Find(`input[name="due_at"]`).Attr("value"); v != "2030-03-15T17:30" {
		t.Errorf("due_at shown as %q", v)
	}
	if v, _ := d.Find(`input[name="late"][checked]`).Attr("value"); v != "penalty" {
		t.Errorf("late shown as %q", v)
	}

	for name, tc := range map[string]struct {
		change url.Values
		msg    string
	}{
		"due before opening": {url.Values{"due_at": {"2030-02-01T00:00"}}, "The due date must be after the opening date."},
		"bad date":           {url.Values{"opens_at": {"tomorrow"}}, "The opening date must be a date and time"},
		"penalty cap":        {url.Values{"cap": {"0"}}, "Late penalty cap must be 1 to 100 percent."},
		"not a number":       {url.Values{"max_submissions": {"lots"}}, "Maximum submissions must be a whole number."},
		"too many a minute":  {url.Values{"per_minute": {"601"}}, "Submissions per minute must be 0 (unlimited) to 600."},
		"after due, no due":  {url.Values{"due_at": {""}}, "Showing tests after the due date needs a due date."},
		"unknown visibility": {url.Values{"visibility": {"sometimes"}}, "Test visibility must be"},
	} {
		form := url.Values{}
		for k, v := range good {
			form[k] = v
		}
		for k, v := range tc.change {
			form[k] = v
		}
		res := b.post(path, form)
		if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.testid("form-error").Text(), tc.msg) {
			t.Errorf("%s: status %d, error %q", name, res.status, res.testid("form-error").Text())
			continue
		}
		d := res.doc()
		for k, v := range form {
			if k == "late" || k == "visibility" {
				continue
			}
			if got, _ := d.Find(`input[name="` + k + `"]`).Attr("value"); got != v[0] {
				t.Errorf("%s: %s kept as %q, want %q", name, k, got, v[0])
			}
		}
	}
	// The stored settings are unchanged by rejected forms.
	if st2, _ := e.db.LabSettings(context.Background(), c.ID, labSlug); st2.MaxSubmissions != 5 {
		t.Errorf("rejected form changed settings: %+v", st2)
	}
}

func mustSettings(t *testing.T, e *env, st *faultline.LabSettings) {
	t.Helper()
	if err := e.db.SetLabSettings(context.Background(), st); err != nil {
		t.Fatalf("set lab settings: %v", err)
	}
}

func TestSubmissionGate(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, lea)
	b := e.MustLogin(lea)
	submit := "/labs/" + labSlug + "/submissions"
	if _, err := e.db.SaveFile(ctx, lea.ID, labSlug, "notes.md", []byte("my work\n")); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		n, err := e.db.SubmissionCounts(ctx, lea.ID, labSlug)
		if err != nil {
			t.Fatal(err)
		}
		return n.Total
	}
	now := e.clock.Now()

	// Not open yet.
	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, OpensAt: now.Add(time.Hour)})
	res := b.post(submit, nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "This lab opens for submissions on") || count() != 0 {
		t.Fatalf("not open: status %d, %d submissions", res.status, count())
	}
	if !strings.Contains(res.testid("lab-rules").Text(), "Opens ") {
		t.Errorf("rules line %q", res.testid("lab-rules").Text())
	}

	// Open, two a minute, three in all.
	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: now.Add(48 * time.Hour), MaxSubmissions: 3, PerMinute: 2})
	line := b.get("/labs/" + labSlug).testid("lab-rules").Text()
	if !strings.Contains(line, "Due "+fmtTime(now.Add(48*time.Hour))) || !strings.Contains(line, "3 of 3 submissions left") {
		t.Errorf("rules line %q", line)
	}
	for i := 0; i < 2; i++ {
		if res := b.post(submit, nil); res.status != http.StatusSeeOther {
			t.Fatalf("submission %d: status %d\n%s", i+1, res.status, res.body)
		}
	}
	res = b.post(submit, nil)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "60" || !strings.Contains(res.body, "At most 2 submissions a minute") {
		t.Fatalf("rate: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	e.clock.Add(61 * time.Second)
	if res := b.post(submit, nil); res.status != http.StatusSeeOther {
		t.Fatalf("after a minute: status %d", res.status)
	}
	e.clock.Add(61 * time.Second)
	res = b.post(submit, nil)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "" || !strings.Contains(res.body, "You have used all 3 submissions") {
		t.Fatalf("max: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	if got := res.testid("lab-rules").Text(); !strings.Contains(got, "0 of 3 submissions left") {
		t.Errorf("rules line %q", got)
	}
	if count() != 3 {
		t.Fatalf("%d submissions", count())
	}

	// Due and refusing late work.
	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: e.clock.Now().Add(time.Minute), Late: faultline.LatePolicy{Mode: faultline.LateRefuse}})
	e.clock.Add(2 * time.Minute)
	res = b.post(submit, nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "late submissions are not accepted") || count() != 3 {
		t.Fatalf("refused late: status %d, %d submissions", res.status, count())
	}
	// Nothing the learner saved was lost by the refusals.
	files, err := e.db.Files(ctx, lea.ID, labSlug)
	if err != nil || len(files) != 1 || string(files[0].Content) != "my work\n" {
		t.Fatalf("saved files after refusals: %v %v", files, err)
	}
	// The instructor, who is no learner of the cohort, is not gated.
	if res := e.MustLogin(inst).post(submit, nil); res.status != http.StatusSeeOther {
		t.Errorf("instructor: status %d", res.status)
	}
}

// The strictest of several cohorts applies.
func TestSubmissionGateSeveralCohorts(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	a := e.MustCohort("A", inst, lea)
	z := e.MustCohort("Z", inst, lea)
	mustSettings(t, e, &faultline.LabSettings{CohortID: a.ID, Lab: labSlug, MaxSubmissions: 5})
	mustSettings(t, e, &faultline.LabSettings{CohortID: z.ID, Lab: labSlug, MaxSubmissions: 1})
	b := e.MustLogin(lea)
	if res := b.post("/labs/"+labSlug+"/submissions", nil); res.status != http.StatusSeeOther {
		t.Fatalf("first: status %d", res.status)
	}
	if res := b.post("/labs/"+labSlug+"/submissions", nil); res.status != http.StatusTooManyRequests {
		t.Fatalf("second: status %d", res.status)
	}
}

func hiddenResult() *faultline.Result {
	return &faultline.Result{
		Status: faultline.StatusGraded, Score: 10, MaxScore: 20,
		Tests: []faultline.TestResult{
			{Name: "TestVisibleOne", Status: faultline.TestPass, Score: 6, MaxScore: 6},
			{Name: "TestSecretAlpha", Hidden: true, Status: faultline.TestFail, Score: 0, MaxScore: 5, Message: "alpha broke", Output: "secret output",
				Attachments: []faultline.Attachment{{Name: "timeline.svg", SVG: "<svg xmlns='http://www.w3.org/2000/svg'/>"}}},
			{Name: "TestSecretBeta", Hidden: true, Status: faultline.TestPass, Score: 4, MaxScore: 9},
		},
		Output: "=== RUN TestSecretAlpha\n",
	}
}

func TestHiddenTestVisibility(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, lea)
	due := e.clock.Now().Add(time.Hour)
	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: due, Visibility: faultline.TestsAfterDue})
	sub := e.MustSubmission(lea, labSlug)
	e.MustComplete(hiddenResult())
	lb, ib := e.MustLogin(lea), e.MustLogin(inst)
	picture := fmt.Sprintf("/submissions/%d/pictures/1/0/timeline.svg", sub.ID)

	check := func(who string, b *browser, wantHidden bool) {
		t.Helper()
		res := b.get(submissionURL(sub.ID))
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d", who, res.status)
		}
		secret := strings.Contains(res.body, "TestSecretAlpha") || strings.Contains(res.body, "alpha broke") ||
			strings.Contains(res.body, "secret output") || strings.Contains(res.body, "timeline.svg")
		summary := res.testid("hidden-summary").Text()
		if wantHidden {
			if secret || !strings.Contains(summary, "2 hidden tests: 4 of 14 points") {
				t.Errorf("%s: hidden tests leak %v, summary %q", who, secret, summary)
			}
			if !strings.Contains(res.body, "TestVisibleOne") || res.testid("score").Text() != "10/20" {
				t.Errorf("%s: visible test or score missing", who)
			}
			if p := b.get(picture); p.status != http.StatusNotFound {
				t.Errorf("%s: hidden picture status %d", who, p.status)
			}
			if rp := b.post(submissionURL(sub.ID)+"/replay", url.Values{"test": {"1"}}); rp.status == http.StatusOK || strings.Contains(rp.body, "TestSecretAlpha") {
				t.Errorf("%s: replay of a hidden test: status %d", who, rp.status)
			}
			ev := b.get(submissionURL(sub.ID) + "/events")
			if strings.Contains(ev.body, "TestSecretAlpha") || !strings.Contains(ev.body, "2 hidden tests") {
				t.Errorf("%s: events leak hidden tests", who)
			}
		} else {
			if !secret || summary != "" {
				t.Errorf("%s: hidden tests shown %v, summary %q", who, secret, summary)
			}
			if p := b.get(picture); p.status != http.StatusOK {
				t.Errorf("%s: picture status %d", who, p.status)
			}
		}
	}
	check("learner before due", lb, true)
	check("instructor before due", ib, false)
	e.clock.Add(2 * time.Hour)
	check("learner after due", lb, false)
	check("instructor after due", ib, false)

	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, Visibility: faultline.TestsHidden})
	check("learner, never shown", lb, true)
	check("instructor, never shown", ib, false)
}

func TestLatePenaltyOnDisplay(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ines Instructor", faultline.RoleInstructor)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, lea)
	due := e.clock.Now().Add(time.Hour)
	mustSettings(t, e, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: due,
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 50}})
	onTime := e.MustSubmission(lea, labSlug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 10, MaxScore: 20})
	e.clock.Add(time.Hour + 36*time.Hour) // 36 hours late: two started days
	late := e.MustSubmission(lea, labSlug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 10, MaxScore: 20})

	for _, b := range []*browser{e.MustLogin(lea), e.MustLogin(inst)} {
		res := b.get(submissionURL(onTime.ID))
		if res.testid("score").Text() != "10/20" || res.testid("late-note").Length() != 0 {
			t.Errorf("on time: score %q, note %q", res.testid("score").Text(), res.testid("late-note").Text())
		}
		res = b.get(submissionURL(late.ID))
		if got := res.testid("score").Text(); got != "8/20" {
			t.Errorf("late: score %q", got)
		}
		if got := res.testid("late-note").Text(); !strings.Contains(got, "Late by 2 days: −20%") || !strings.Contains(got, "10/20") {
			t.Errorf("late note %q", got)
		}
	}
}
