package lti

import (
	"testing"

	"github.com/faultline-dev/faultline"
)

func TestContextRole(t *testing.T) {
	cases := []struct {
		roles []string
		want  faultline.MemberRole
	}{
		{[]string{roleBase + "Learner"}, faultline.MemberLearner},
		{[]string{roleBase + "Instructor"}, faultline.MemberInstructor},
		{[]string{"Instructor"}, faultline.MemberInstructor},
		{[]string{roleBase + "Learner", roleBase + "Administrator"}, faultline.MemberInstructor},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"}, faultline.MemberCoInstructor},
		{[]string{roleBase + "Mentor", roleBase + "Learner"}, faultline.MemberCoInstructor},
		// Institution and system roles grant nothing in a course.
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"}, faultline.MemberLearner},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"}, faultline.MemberLearner},
		{nil, faultline.MemberLearner},
	}
	for _, c := range cases {
		if got := contextRole(c.roles); got != c.want {
			t.Errorf("contextRole(%v) = %s, want %s", c.roles, got, c.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	cases := map[string][]string{
		"https://lms/m?p=2": {`<https://lms/m?p=2>; rel="next", <https://lms/m?p=9>; rel="last"`},
		"https://lms/x":     {`<https://lms/first>; rel="first"`, `<https://lms/x>;rel="next"`},
		"":                  {`<https://lms/m?p=9>; rel="last"`},
	}
	for want, h := range cases {
		if got := nextLink(h); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestWithPath(t *testing.T) {
	got, err := withPath("https://lms.example/api/lineitems/7?type_id=3", "scores")
	if err != nil || got != "https://lms.example/api/lineitems/7/scores?type_id=3" {
		t.Fatalf("withPath = %q, %v", got, err)
	}
}
