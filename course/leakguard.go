package course

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/faultline-dev/faultline"
)

// The solution-leak guard. A learner's post whose code is much like a
// passing submission of a lab the thread is about (or the lab's reference
// solution) is held for staff, and its author is told why. It uses the
// grader's similarity fingerprints (faultline.SimilarityChecker): names and
// literals do not matter, moving code around does not help, and whatever
// the lab hands out (starter files, visible tests) is set aside. Short
// snippets stay below the checker's minimum and pass. Staff posts and
// private threads (only staff see them) are not checked.

// LeakThreshold is the share of a post's code fingerprints found in one
// passing submission from which the post is held.
const LeakThreshold = SimilarThreshold

// Inputs of the guard that are not submissions get negative IDs, so the
// checker's cache keyed by ID never mixes them with submissions: a post's
// code is keyed by its hash (same code, same fingerprints) in
// [-2^39, -1], a lab's solution below -2^40.
const (
	postOwner     = -1
	solutionOwner = -2
)

func postInputID(code string) int64 {
	h := fnv.New64a()
	h.Write([]byte(code))
	return -int64(h.Sum64()%(1<<39)) - 1
}

func solutionInputID(slug string) int64 {
	h := fnv.New64a()
	h.Write([]byte(slug))
	return -(1 << 40) - int64(h.Sum64()%(1<<40))
}

// guardLabs are the labs a post in a thread at place (with an attached run
// of runLab) is compared against: the thread's lab, the labs a lesson or
// case study practises, or every lab for the cohort in general.
func (s *Service) guardLabs(place faultline.Place, runLab string) []*faultline.Lab {
	var slugs []string
	switch place.Kind {
	case faultline.PlaceLab:
		slugs = []string{place.Slug}
	case faultline.PlaceLesson, faultline.PlaceCase:
		if l, err := s.d.Lessons.Lesson(place.Slug); err == nil {
			slugs = l.Labs
		}
	default:
		return s.d.Labs.All()
	}
	if runLab != "" && runLab != place.Slug {
		slugs = append(slugs, runLab)
	}
	var out []*faultline.Lab
	for _, slug := range slugs {
		if l, err := s.d.Labs.Lab(slug); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// leakReason returns why body must be held ("" when it may show) for a
// learner's post in a thread of the cohort at place.
func (s *Service) leakReason(ctx context.Context, cohortID int64, place faultline.Place, runLab, body string) (string, error) {
	code := strings.Join(faultline.CodeBlocks(body), "\n\n")
	if strings.TrimSpace(code) == "" {
		code = body // code pasted without a fence is still code
	}
	post := faultline.SimilarityInput{ID: postInputID(code), Owner: postOwner, Files: func() ([]faultline.File, error) {
		return []faultline.File{{Path: "post.go", Content: []byte(code)}}, nil
	}}
	for _, l := range s.guardLabs(place, runLab) {
		held, _, err := s.cohortHeld(ctx, cohortID, l.Slug)
		if err != nil {
			return "", err
		}
		others := []faultline.SimilarityInput{{ID: solutionInputID(l.Slug), Owner: solutionOwner, Files: func() ([]faultline.File, error) {
			return l.Solution, nil
		}}}
		for k, h := range held {
			if h.Has && h.MaxScore > 0 && h.Best.Raw >= h.Best.MaxScore {
				others = append(others, s.similarityInput(ctx, h.BestID, k.user, nil))
			}
		}
		pairs, err := s.d.Similarity.SimilarTo(l, post, others, LeakThreshold)
		if err != nil {
			return "", fmt.Errorf("leak guard on lab %q: %w", l.Slug, err)
		}
		if len(pairs) > 0 {
			pct := int(math.Floor(pairs[0].Score*100 + 1e-9))
			return fmt.Sprintf("Held for staff: the code in your post is %d%% like a passing solution of the lab “%s”. "+
				"Classmates learn more from the idea, the error or the failing run than from working code. "+
				"Staff will look at it and may release it; you can also edit it, or ask staff privately.", pct, l.Title), nil
		}
	}
	return "", nil
}
