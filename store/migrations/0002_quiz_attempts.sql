-- 0002_quiz_attempts: every graded submission of a lesson's quiz. answers is
-- the chosen 1-based choice per question as a comma-separated list (0 for a
-- question left unanswered).

CREATE TABLE quiz_attempts (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	slug       TEXT NOT NULL CHECK (slug <> ''),
	score      INTEGER NOT NULL CHECK (score >= 0),
	total      INTEGER NOT NULL CHECK (total > 0 AND score <= total),
	answers    TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX quiz_attempts_user_slug ON quiz_attempts (user_id, slug, score);
