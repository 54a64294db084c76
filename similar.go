package faultline

// ---- Similar submissions between learners ----

// SimilarityInput is one submission offered to a similarity check.
type SimilarityInput struct {
	ID    int64 // the submission; its fingerprints are cached under it (submissions never change)
	Owner int64 // the learner: two submissions of one owner are never compared
	// Files loads the submission's files; it is called only when the
	// submission's fingerprints are not cached yet.
	Files func() ([]File, error)
}

// SimilarPair is two learners' submissions of one lab that share much of
// their code beyond what the lab itself hands out. It is a reason for an
// instructor to look at both, never proof that anyone copied.
type SimilarPair struct {
	A, B  int64   // submission IDs
	Score float64 // shared fingerprints over the smaller fingerprint set, 0 to 1
}

// SimilarityChecker compares learners' submissions of one lab after taking
// out the lab's starter files and visible tests. Implemented by
// grader.Similarity.
type SimilarityChecker interface {
	// SimilarPairs compares every input with every input of another owner
	// and returns the pairs scoring at least min, highest first, with A the
	// one listed first in subs. Errors come from loading files.
	SimilarPairs(lab *Lab, subs []SimilarityInput, min float64) ([]SimilarPair, error)
	// SimilarTo compares one submission with each of others (other owners
	// only) and returns those scoring at least min, highest first, with A =
	// one.ID. Errors come from loading files.
	SimilarTo(lab *Lab, one SimilarityInput, others []SimilarityInput, min float64) ([]SimilarPair, error)
}
