package hidden

import (
	"math"
	"sort"
	"testing"

	"faultline.dev/labkit"
)

// pos places a hash on the picture's ring, as a fraction of a full turn.
func pos(h uint64) float64 { return float64(h) / math.Exp2(64) }

// maxPictureKeys bounds how many keys the ring picture labels.
const maxPictureKeys = 30

// maxLabels bounds how many wrong keys the picture names.
const maxLabels = 4

// ringPicture draws the reference ring (every virtual node of model) with
// keys placed at their hashes and coloured by the owner the learner's ring
// returned for them; wrong owners come first so they always show, marked ✗.
func ringPicture(title string, model *ref, got map[string]string) string {
	var tokens []labkit.RingNode
	for _, p := range model.points {
		tokens = append(tokens, labkit.RingNode{Pos: pos(p.hash), Node: p.node})
	}
	var wrong, right []string
	for k, owner := range got {
		if owner != model.owner(k) {
			wrong = append(wrong, k)
		} else {
			right = append(right, k)
		}
	}
	sort.Strings(wrong)
	sort.Strings(right)
	var keys []labkit.RingKey
	for _, k := range append(wrong, right...) {
		if len(keys) == maxPictureKeys {
			break
		}
		// Only the first few wrong keys get a label, so labels stay
		// readable; hovering any key shows its owner.
		label := ""
		if got[k] != model.owner(k) && len(keys) < maxLabels {
			label = "✗ " + k
		}
		keys = append(keys, labkit.RingKey{Pos: pos(refHash(k)), Label: label, Owner: got[k]})
	}
	return labkit.Ring{Title: title, Tokens: tokens, Keys: keys}.SVG()
}

// failRing attaches the ring picture (ring.svg) and fails the test with the
// labkit report of sim: the property, the detail, the seed, the command
// that reruns it and the trace of what the test did to the ring.
func failRing(t *testing.T, sim *labkit.Sim, model *ref, got map[string]string, property, format string, args ...any) {
	t.Helper()
	labkit.Attach(t, "ring.svg", ringPicture("keys coloured by the owner your ring chose (grey: not on the ring)", model, got))
	sim.Failf(t, property, format, args...)
}
