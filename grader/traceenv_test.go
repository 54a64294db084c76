package grader

import (
	"testing"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// TestTraceEnvMatchesLabkit: grading turns on the traces labkit attaches to
// failing runs by the variable labkit reads.
func TestTraceEnvMatchesLabkit(t *testing.T) {
	if traceEnv != labkit.TraceEnv+"=1" {
		t.Fatalf("the grader sets %q; labkit reads %s", traceEnv, labkit.TraceEnv)
	}
}
