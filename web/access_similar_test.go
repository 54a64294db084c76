package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestWhoSeesSimilarity checks the comparison route and the pages that carry
// similarity data against every kind of viewer: anyone who does not teach
// the cohort gets 404, as for a page that does not exist, and no 404 names
// a learner.
func TestWhoSeesSimilarity(t *testing.T) {
	sc := mustSimilarCohort(t, withSimilarity())
	e := sc.e
	ctx := context.Background()
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	co := e.MustUser("Cora Coinstructor", faultline.RoleInstructor)
	if err := e.db.AddMember(ctx, sc.cohort.ID, co.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	otherInst := e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	dee := e.MustUser("Dee Learner", faultline.RoleLearner)
	other := e.MustCohort("Autumn", otherInst, dee)
	_, solution := labFiles(t, labSlug)
	deeSub := e.MustGraded(dee, labSlug, solution, 10) // like Lin's and Bo's, in another cohort
	otherLab := e.MustGraded(sc.bo, "retry-backoff", solution, 3)

	cmp := compareURL(sc.cohort.ID, labSlug, sc.linSecond, sc.boSub)
	stats := labStatsURL(sc.cohort.ID, labSlug)
	browsers := map[string]*browser{
		"admin": e.MustLogin(admin), "instructor": e.MustLogin(sc.inst), "co-instructor": e.MustLogin(co),
		"other instructor": e.MustLogin(otherInst), "learner": e.MustLogin(sc.lin), "other learner": e.MustLogin(dee),
		"visitor": e.browser(),
	}
	self := map[string]string{"learner": sc.lin.Name} // the header names the viewer
	for _, tc := range []struct {
		viewer, path string
		want         int
	}{
		{"instructor", cmp, 200},
		{"co-instructor", cmp, 200},
		{"admin", cmp, 200},
		{"other instructor", cmp, 404},
		{"learner", cmp, 404},
		{"other learner", cmp, 404},
		{"visitor", cmp, 303},
		// The other instructor's own cohort does not open this cohort's submissions.
		{"other instructor", compareURL(other.ID, labSlug, sc.linSecond, deeSub), 404},
		{"other instructor", compareURL(other.ID, labSlug, deeSub, sc.boSub), 404},
		{"other instructor", compareURL(other.ID, labSlug, deeSub, deeSub), 200},
		// Nor the other way round, nor another lab, nor nonsense.
		{"instructor", compareURL(sc.cohort.ID, labSlug, sc.linSecond, deeSub), 404},
		{"instructor", compareURL(sc.cohort.ID, labSlug, sc.linSecond, otherLab), 404},
		{"instructor", compareURL(sc.cohort.ID, "retry-backoff", sc.linSecond, sc.boSub), 404},
		{"instructor", compareURL(sc.cohort.ID, "no-such-lab", sc.linSecond, sc.boSub), 404},
		{"instructor", stats + "/compare?a=x&b=1", 404},
		{"instructor", stats + "/compare", 404},
		{"instructor", compareURL(999999, labSlug, sc.linSecond, sc.boSub), 404},

		// The pages that show similarity data.
		{"instructor", stats, 200},
		{"co-instructor", stats, 200},
		{"other instructor", stats, 404},
		{"learner", stats, 404},
		{"other instructor", submissionURL(sc.linSecond), 404},
		{"other learner", submissionURL(sc.linSecond), 404},
		{"learner", submissionURL(sc.boSub), 404},
	} {
		res := browsers[tc.viewer].get(tc.path)
		if res.status != tc.want {
			t.Errorf("%s GET %s: status %d, want %d", tc.viewer, tc.path, res.status, tc.want)
		}
		if res.status != http.StatusNotFound {
			continue
		}
		for _, name := range []string{"Lin Learner", "Bo Learner"} {
			if name != self[tc.viewer] && strings.Contains(res.body, name) {
				t.Errorf("%s GET %s: the 404 names %s", tc.viewer, tc.path, name)
			}
		}
	}

	// Dee's copy is in another cohort: Winter's teachers are not told of
	// it, and the other instructor sees no Winter learner.
	if res := browsers["instructor"].get(submissionURL(sc.boSub)); strings.Contains(res.testid("similar-flag").Text(), "Dee") {
		t.Error("Winter's instructor is told of a learner in another cohort")
	}
	res := browsers["other instructor"].get(submissionURL(deeSub))
	if res.status != http.StatusOK {
		t.Fatalf("other instructor on Dee's submission: status %d", res.status)
	}
	if s := res.testid("similar-flag").Text(); strings.Contains(s, "Lin") || strings.Contains(s, "Bo") {
		t.Errorf("the other instructor is told of Winter's learners: %q", s)
	}
	if res := browsers["other instructor"].get(labStatsURL(other.ID, labSlug)); strings.Contains(res.body, "Lin Learner") || strings.Contains(res.body, "Bo Learner") {
		t.Error("the other cohort's stats page names Winter's learners")
	}

	// Bo joins Autumn too: each instructor sees Bo's submission compared
	// within the cohort they teach, and only that one.
	if err := e.db.AddMember(ctx, other.ID, sc.bo.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		viewer, want, never string
		cohort              int64
	}{
		{"instructor", "Lin Learner", "Dee Learner", sc.cohort.ID},
		{"other instructor", "Dee Learner", "Lin Learner", other.ID},
	} {
		res := browsers[tc.viewer].get(submissionURL(sc.boSub))
		if res.status != http.StatusOK {
			t.Fatalf("%s on Bo's submission: status %d", tc.viewer, res.status)
		}
		if s := res.testid("similar-flag").Text(); !strings.Contains(s, tc.want) || strings.Contains(s, tc.never) {
			t.Errorf("%s on Bo's submission: similar %q, want %s and never %s", tc.viewer, s, tc.want, tc.never)
		}
		links := res.testid("learner-lab-link")
		if h, _ := links.Attr("href"); links.Length() != 1 || h != learnerLabURL(tc.cohort, sc.bo.ID, labSlug) {
			t.Errorf("%s on Bo's submission: %d learner links, first %q", tc.viewer, links.Length(), h)
		}
	}
}
