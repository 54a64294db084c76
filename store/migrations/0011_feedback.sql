-- 0011_feedback: feedback on submitted work. Comments on a submission's
-- lines (path/line; '' and 0 for the overall comment) and replies; manual
-- score adjustments, kept beside the graded results and never overwriting
-- them; one extension per learner and lab; regrade requests about one test.

CREATE TABLE submission_comments (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
	parent_id     INTEGER REFERENCES submission_comments (id) ON DELETE CASCADE,
	author_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
	path          TEXT NOT NULL DEFAULT '',
	line          INTEGER NOT NULL DEFAULT 0 CHECK (line >= 0),
	body          TEXT NOT NULL,
	html          TEXT NOT NULL,
	deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
	created_at    TEXT NOT NULL
);
CREATE INDEX submission_comments_submission ON submission_comments (submission_id, id);

CREATE TABLE score_adjustments (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab        TEXT NOT NULL CHECK (lab <> ''),
	points     INTEGER NOT NULL CHECK (points <> 0),
	reason     TEXT NOT NULL CHECK (reason <> ''),
	created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX score_adjustments_user_lab ON score_adjustments (user_id, lab, id);

-- late_mode NULL: the cohort's late policy stands; max_submissions NULL:
-- the cohort's limit stands.
CREATE TABLE extensions (
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab              TEXT NOT NULL CHECK (lab <> ''),
	due_at           TEXT NOT NULL,
	late_mode        TEXT CHECK (late_mode IN ('accept', 'penalty', 'refuse')),
	late_pct_per_day INTEGER NOT NULL DEFAULT 0,
	late_cap_pct     INTEGER NOT NULL DEFAULT 0,
	max_submissions  INTEGER CHECK (max_submissions >= 0),
	reason           TEXT NOT NULL DEFAULT '',
	granted_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at       TEXT NOT NULL,
	PRIMARY KEY (user_id, lab)
);

CREATE TABLE regrade_requests (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	submission_id  INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
	user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab            TEXT NOT NULL,
	test           TEXT NOT NULL,
	reason         TEXT NOT NULL,
	state          TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'declined', 'answered')),
	outcome        TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'adjusted', 'regraded')),
	answer         TEXT NOT NULL DEFAULT '',
	answered_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
	answered_at    TEXT,
	adjustment_id  INTEGER REFERENCES score_adjustments (id) ON DELETE SET NULL,
	regrade_job_id INTEGER REFERENCES regrade_jobs (id) ON DELETE SET NULL,
	created_at     TEXT NOT NULL
);
CREATE INDEX regrade_requests_submission ON regrade_requests (submission_id, id);
CREATE INDEX regrade_requests_user ON regrade_requests (user_id, state);
CREATE UNIQUE INDEX regrade_requests_open ON regrade_requests (submission_id, test) WHERE state = 'open';
