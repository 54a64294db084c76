package grader

import (
	"go/scanner"
	"go/token"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline"
)

// Similar submissions between learners, found the way MOSS finds them
// (Schleimer, Wilkerson and Aiken, "Winnowing: Local Algorithms for Document
// Fingerprinting", SIGMOD 2003): each Go file becomes a stream of tokens in
// which every identifier the learner chose reads the same and every literal
// reads as its kind, so renaming and re-wording constants change nothing;
// every run of KGram tokens is hashed, and winnowing keeps the smallest hash
// of every window of Window hashes as the file's fingerprints. Two
// submissions are compared by the fingerprints they share, as a fraction of
// the smaller set, so moving functions around changes little and one
// learner's copy padded with extra code still shows. Whatever the lab hands
// out (starter files, visible tests) is taken out first: boilerplate every
// learner shares is no evidence of anything.

const (
	// KGram is how many tokens one fingerprint covers: runs shorter than this
	// (an `if err != nil { return err }`) are too common to mean anything.
	KGram = 15
	// Window is the winnowing window in k-grams: every shared run of at least
	// Window+KGram-1 tokens is certain to share a fingerprint.
	Window = 10
	// MinFingerprints is the fewest fingerprints a submission needs, beyond
	// the lab's own, before it is compared at all: two learners who changed
	// three lines of the starter the same way are not similar, just brief.
	MinFingerprints = 8
)

// Fingerprints is a submission's winnowed k-gram hashes, sorted and unique.
type Fingerprints []uint64

// Fingerprint returns the fingerprints of the Go files among files, less any
// hash in base (see BaseHashes). Files other than .go are ignored; a file
// that does not scan cleanly contributes the tokens that did.
func Fingerprint(files []faultline.File, base map[uint64]bool) Fingerprints {
	var out []uint64
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".go") {
			continue
		}
		for _, decl := range tokenize(f.Content) {
			for _, h := range winnow(kgramHashes(decl)) {
				if !base[h] {
					out = append(out, h)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// BaseHashes returns every k-gram hash (not only the winnowed ones) of the
// Go files among files: a submission fingerprint found here comes from the
// lab's own files wherever winnowing happened to pick it.
func BaseHashes(files ...[]faultline.File) map[uint64]bool {
	base := map[uint64]bool{}
	for _, set := range files {
		for _, f := range set {
			if strings.HasSuffix(f.Path, ".go") {
				for _, decl := range tokenize(f.Content) {
					for _, h := range kgramHashes(decl) {
						base[h] = true
					}
				}
			}
		}
	}
	return base
}

// Score is how alike two fingerprint sets are: the shared fingerprints over
// the size of the smaller set, from 0 to 1; 0 when either has fewer than
// MinFingerprints.
func Score(a, b Fingerprints) float64 { return scoreAtLeast(a, b, 0) }

// scoreAtLeast is Score, but gives up (returning 0) as soon as the score
// cannot reach min: most pairs of a cohort are far apart, and are told apart
// after a fraction of the smaller set.
func scoreAtLeast(a, b Fingerprints, min float64) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	n := len(a)
	if n < MinFingerprints {
		return 0
	}
	allowed := n - int(math.Ceil(min*float64(n))) // misses that still leave min reachable
	shared, misses := 0, 0
	j := 0
	for _, h := range a {
		for j < len(b) && b[j] < h {
			j++
		}
		if j < len(b) && b[j] == h {
			shared++
			j++
			continue
		}
		if misses++; misses > allowed {
			return 0
		}
	}
	return float64(shared) / float64(n)
}

// Token codes above the go/token range: predeclared identifiers keep their
// own code (an `append` is not a learner's name), every other identifier
// shares identCode.
const (
	identCode      = 1 << 12
	predeclaredMin = identCode + 1
)

var predeclared = func() map[string]uint32 {
	names := strings.Fields(`bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64
		rune string uint uint8 uint16 uint32 uint64 uintptr any comparable true false iota nil
		append cap clear close complex copy delete imag len make max min new panic print println real recover`)
	m := map[string]uint32{}
	for i, n := range names {
		m[n] = predeclaredMin + uint32(i)
	}
	return m
}()

// tokenize returns src as normalized token codes, one slice per top-level
// declaration (so the order of declarations does not matter and no k-gram
// spans two), without comments, semicolons (formatting decides where they
// go), the package clause or imports (every solution imports much the same).
func tokenize(src []byte) [][]uint32 {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, func(token.Position, string) {}, 0)
	var out [][]uint32
	var cur []uint32
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	skip := false // inside a package clause or import declaration
	depth := 0    // open parentheses, brackets and braces
	for {
		_, tok, lit := s.Scan()
		switch tok {
		case token.EOF:
			flush()
			return out
		case token.LPAREN, token.LBRACK, token.LBRACE:
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			depth--
		}
		if depth == 0 {
			switch tok {
			case token.PACKAGE, token.IMPORT:
				flush()
				skip = true
				continue
			case token.FUNC, token.TYPE, token.VAR, token.CONST:
				flush()
				skip = false
			}
		}
		if skip {
			if tok == token.SEMICOLON && depth == 0 {
				skip = false
			}
			continue
		}
		switch tok {
		case token.SEMICOLON:
		case token.IDENT:
			if c, ok := predeclared[lit]; ok {
				cur = append(cur, c)
			} else {
				cur = append(cur, identCode)
			}
		default: // literals read as their kind, keywords and operators as themselves
			cur = append(cur, uint32(tok))
		}
	}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// kgramHashes hashes every run of KGram consecutive codes.
func kgramHashes(codes []uint32) []uint64 {
	if len(codes) < KGram {
		return nil
	}
	out := make([]uint64, 0, len(codes)-KGram+1)
	for i := 0; i+KGram <= len(codes); i++ {
		h := uint64(fnvOffset)
		for _, c := range codes[i : i+KGram] { // FNV-1a over the codes' four bytes
			for b := 0; b < 4; b++ {
				h ^= uint64(byte(c >> (8 * b)))
				h *= fnvPrime
			}
		}
		out = append(out, h)
	}
	return out
}

// winnow keeps the smallest hash of every window of Window consecutive
// hashes (the rightmost one on ties, as the paper does, so a run of equal
// hashes yields one pick); fewer hashes than a window form one window.
func winnow(hs []uint64) []uint64 {
	if len(hs) == 0 {
		return nil
	}
	w := min(Window, len(hs))
	var out []uint64
	last := -1
	for start := 0; start+w <= len(hs); start++ {
		m := start
		for i := start + 1; i < start+w; i++ {
			if hs[i] <= hs[m] {
				m = i
			}
		}
		if m != last {
			out = append(out, hs[m])
			last = m
		}
	}
	return out
}

// Similarity is a faultline.SimilarityChecker that remembers every
// submission's fingerprints (submissions never change) and every lab's base
// hashes. The zero value is not ready; use NewSimilarity. Safe for
// concurrent use.
type Similarity struct {
	mu    sync.Mutex
	subs  map[int64]Fingerprints
	bases map[*faultline.Lab]map[uint64]bool
	pairs map[*faultline.Lab]pairsResult // the last SimilarPairs answer per lab
	max   int                            // cached submissions before some are forgotten
}

// pairsResult is a SimilarPairs answer and what it was asked about.
type pairsResult struct {
	key   string
	pairs []faultline.SimilarPair
}

// pairsKey names a SimilarPairs question: the same submissions (of the same
// owners) and threshold always get the same answer.
func pairsKey(subs []faultline.SimilarityInput, min float64) string {
	b := make([]byte, 0, 16*len(subs)+8)
	b = strconv.AppendFloat(b, min, 'g', -1, 64)
	for _, in := range subs {
		b = append(b, ' ')
		b = strconv.AppendInt(b, in.ID, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, in.Owner, 10)
	}
	return string(b)
}

// similarityCache is how many submissions' fingerprints a Similarity keeps:
// a few hundred bytes each, and 200 learners × 13 labs fit with room to spare.
const similarityCache = 20000

// NewSimilarity returns an empty Similarity.
func NewSimilarity() *Similarity {
	return &Similarity{
		subs: map[int64]Fingerprints{}, bases: map[*faultline.Lab]map[uint64]bool{},
		pairs: map[*faultline.Lab]pairsResult{}, max: similarityCache,
	}
}

var _ faultline.SimilarityChecker = (*Similarity)(nil)

// base returns the lab's base hashes, computing them once per lab.
func (s *Similarity) base(lab *faultline.Lab) map[uint64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bases[lab]
	if !ok {
		b = BaseHashes(lab.Starter, lab.Visible)
		s.bases[lab] = b
	}
	return b
}

// fingerprints returns in's fingerprints, from the cache or computed now.
func (s *Similarity) fingerprints(lab *faultline.Lab, in faultline.SimilarityInput) (Fingerprints, error) {
	s.mu.Lock()
	fp, ok := s.subs[in.ID]
	s.mu.Unlock()
	if ok {
		return fp, nil
	}
	files, err := in.Files()
	if err != nil {
		return nil, err
	}
	fp = Fingerprint(files, s.base(lab))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) >= s.max {
		for id := range s.subs { // forget an arbitrary tenth
			delete(s.subs, id)
			if len(s.subs) < s.max*9/10 {
				break
			}
		}
	}
	s.subs[in.ID] = fp
	return fp, nil
}

func (s *Similarity) all(lab *faultline.Lab, subs []faultline.SimilarityInput) ([]Fingerprints, error) {
	out := make([]Fingerprints, len(subs))
	for i, in := range subs {
		fp, err := s.fingerprints(lab, in)
		if err != nil {
			return nil, err
		}
		out[i] = fp
	}
	return out, nil
}

// SimilarPairs implements faultline.SimilarityChecker.
// The answer is remembered per lab until the submissions asked about change
// (a new best submission, a learner joining).
func (s *Similarity) SimilarPairs(lab *faultline.Lab, subs []faultline.SimilarityInput, min float64) ([]faultline.SimilarPair, error) {
	key := pairsKey(subs, min)
	s.mu.Lock()
	last, ok := s.pairs[lab]
	s.mu.Unlock()
	if ok && last.key == key {
		return slices.Clone(last.pairs), nil
	}
	fps, err := s.all(lab, subs)
	if err != nil {
		return nil, err
	}
	var out []faultline.SimilarPair
	for i := range subs {
		if len(fps[i]) < MinFingerprints {
			continue
		}
		for j := i + 1; j < len(subs); j++ {
			if subs[i].Owner == subs[j].Owner {
				continue
			}
			if sc := scoreAtLeast(fps[i], fps[j], min); sc >= min && sc > 0 {
				out = append(out, faultline.SimilarPair{A: subs[i].ID, B: subs[j].ID, Score: sc})
			}
		}
	}
	sortPairs(out)
	s.mu.Lock()
	s.pairs[lab] = pairsResult{key: key, pairs: slices.Clone(out)}
	s.mu.Unlock()
	return out, nil
}

// SimilarTo implements faultline.SimilarityChecker.
func (s *Similarity) SimilarTo(lab *faultline.Lab, one faultline.SimilarityInput, others []faultline.SimilarityInput, min float64) ([]faultline.SimilarPair, error) {
	fp, err := s.fingerprints(lab, one)
	if err != nil {
		return nil, err
	}
	if len(fp) < MinFingerprints {
		return nil, nil
	}
	var out []faultline.SimilarPair
	for _, o := range others {
		if o.Owner == one.Owner || o.ID == one.ID {
			continue
		}
		ofp, err := s.fingerprints(lab, o)
		if err != nil {
			return nil, err
		}
		if sc := scoreAtLeast(fp, ofp, min); sc >= min && sc > 0 {
			out = append(out, faultline.SimilarPair{A: one.ID, B: o.ID, Score: sc})
		}
	}
	sortPairs(out)
	return out, nil
}

// sortPairs orders pairs by score, highest first, then by IDs.
func sortPairs(ps []faultline.SimilarPair) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Score != ps[j].Score {
			return ps[i].Score > ps[j].Score
		}
		if ps[i].A != ps[j].A {
			return ps[i].A < ps[j].A
		}
		return ps[i].B < ps[j].B
	})
}
