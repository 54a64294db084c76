package content

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline"
)

// Quiz limits.
const (
	minQuestions = 3
	maxQuestions = 5
	minChoices   = 2
	maxChoices   = 5
)

// quizItem is one question as written in a ```quiz block.
type quizItem struct {
	Question string   `yaml:"question"`
	Choices  []string `yaml:"choices"`
	Answer   int      `yaml:"answer"`
	Explain  string   `yaml:"explain"`
}

// parseQuiz parses and validates the YAML of a ```quiz block: a list of 3 to
// 5 questions, each with 2 to 5 choices, a 1-based answer and an explanation.
// line is the file line of the block's first YAML line; every problem is
// reported to probs naming the question number.
func parseQuiz(file string, line int, src []byte, probs *problems) []faultline.QuizQuestion {
	before := len(*probs)
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		probs.add(file, line, "quiz", "%s", yamlMessage(err))
		return nil
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.SequenceNode {
		probs.add(file, line, "quiz", "must be a YAML list of questions (- question: ..., choices: [...], answer: N, explain: ...)")
		return nil
	}
	items := root.Content[0].Content
	if len(items) < minQuestions || len(items) > maxQuestions {
		probs.add(file, line, "quiz", "has %d questions; want %d to %d", len(items), minQuestions, maxQuestions)
	}
	var out []faultline.QuizQuestion
	for i, n := range items {
		at := line + n.Line - 1
		q := fmt.Sprintf("question %d", i+1)
		var it quizItem
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(n); err != nil {
			probs.add(file, at, "quiz", "%s: %s", q, yamlMessage(err))
			continue
		}
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		if err := dec.Decode(&it); err != nil {
			probs.add(file, at, "quiz", "%s: %s (fields: question, choices, answer, explain)", q, yamlMessage(err))
			continue
		}
		if strings.TrimSpace(it.Question) == "" {
			probs.add(file, at, "quiz", "%s: question: required", q)
		}
		if len(it.Choices) < minChoices || len(it.Choices) > maxChoices {
			probs.add(file, at, "quiz", "%s: choices: has %d; want %d to %d", q, len(it.Choices), minChoices, maxChoices)
		}
		seen := map[string]bool{}
		for j, c := range it.Choices {
			if strings.TrimSpace(c) == "" {
				probs.add(file, at, "quiz", "%s: choice %d is empty", q, j+1)
			} else if seen[c] {
				probs.add(file, at, "quiz", "%s: choice %d repeats an earlier choice", q, j+1)
			}
			seen[c] = true
		}
		if it.Answer < 1 || it.Answer > len(it.Choices) {
			probs.add(file, at, "quiz", "%s: answer: %d is not a choice; give the 1-based number of the right choice (1 to %d)", q, it.Answer, len(it.Choices))
		}
		if strings.TrimSpace(it.Explain) == "" {
			probs.add(file, at, "quiz", "%s: explain: required (why the answer is right)", q)
		}
		out = append(out, faultline.QuizQuestion{Question: it.Question, Choices: it.Choices, Answer: it.Answer, Explain: it.Explain})
	}
	if len(*probs) > before {
		return nil
	}
	return out
}
