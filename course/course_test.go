package course_test

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// TestNewNamesWhatIsMissing: every dependency is required, and a missing one
// is named, so a wiring mistake fails at start instead of leaving a page
// that quietly says something is unavailable.
func TestNewNamesWhatIsMissing(t *testing.T) {
	_, err := course.New(course.Deps{})
	if faultline.ErrorCode(err) != faultline.EINVALID || !strings.Contains(err.Error(), "Deps.Users") {
		t.Fatalf("New(empty) = %v, want EINVALID naming Deps.Users", err)
	}
}
