-- 0003_instructors: instructor tools.
--  * invite links expire; memberships gain the co_instructor role;
--  * per cohort and lab settings;
--  * results keep history: a submission may have several results (regrades),
--    submissions.result_id points at the one shown; test_results hang off a
--    result id and record the fault kinds their failure report lists;
--  * regrade jobs; personal access tokens;
--  * indexes for the dashboards.

ALTER TABLE cohorts ADD COLUMN invite_expires_at TEXT;

CREATE TABLE memberships_v3 (
	cohort_id INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role      TEXT NOT NULL CHECK (role IN ('instructor', 'co_instructor', 'learner')),
	joined_at TEXT NOT NULL,
	PRIMARY KEY (cohort_id, user_id)
);
INSERT INTO memberships_v3 (cohort_id, user_id, role, joined_at)
	SELECT cohort_id, user_id, role, joined_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_v3 RENAME TO memberships;
CREATE INDEX memberships_user_id ON memberships (user_id);
CREATE INDEX memberships_cohort_role ON memberships (cohort_id, role, user_id);

-- Settings of one lab in one cohort. NULL times and 0 limits mean "none".
CREATE TABLE cohort_labs (
	cohort_id        INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	lab              TEXT NOT NULL CHECK (lab <> ''),
	opens_at         TEXT,
	due_at           TEXT,
	late_mode        TEXT NOT NULL DEFAULT 'accept' CHECK (late_mode IN ('accept', 'penalty', 'refuse')),
	late_pct_per_day INTEGER NOT NULL DEFAULT 0,
	late_cap_pct     INTEGER NOT NULL DEFAULT 0,
	max_submissions  INTEGER NOT NULL DEFAULT 0 CHECK (max_submissions >= 0),
	per_minute       INTEGER NOT NULL DEFAULT 0 CHECK (per_minute >= 0),
	test_visibility  TEXT NOT NULL DEFAULT 'visible' CHECK (test_visibility IN ('visible', 'hidden', 'after_due')),
	updated_at       TEXT NOT NULL,
	PRIMARY KEY (cohort_id, lab)
);

CREATE TABLE regrade_jobs (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	cohort_id     INTEGER REFERENCES cohorts (id) ON DELETE CASCADE,
	lab           TEXT NOT NULL,
	submission_id INTEGER REFERENCES submissions (id) ON DELETE CASCADE,
	state         TEXT NOT NULL CHECK (state IN ('running', 'done')),
	total         INTEGER NOT NULL,
	done          INTEGER NOT NULL DEFAULT 0,
	failed        INTEGER NOT NULL DEFAULT 0,
	created_by    INTEGER NOT NULL REFERENCES users (id),
	created_at    TEXT NOT NULL,
	finished_at   TEXT
);
CREATE INDEX regrade_jobs_cohort ON regrade_jobs (cohort_id, id);

-- Results: the old primary key (one per submission) becomes an id of its own.
-- Existing rows keep id = submission_id.
CREATE TABLE results_v3 (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	submission_id  INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
	regrade_job_id INTEGER REFERENCES regrade_jobs (id) ON DELETE SET NULL,
	status         TEXT NOT NULL,
	score          INTEGER NOT NULL,
	max_score      INTEGER NOT NULL,
	message        TEXT NOT NULL DEFAULT '',
	output         TEXT NOT NULL DEFAULT '',
	flags          TEXT NOT NULL DEFAULT '[]',
	duration_ns    INTEGER NOT NULL DEFAULT 0,
	created_at     TEXT NOT NULL
);
INSERT INTO results_v3 (id, submission_id, status, score, max_score, message, output, flags, duration_ns, created_at)
	SELECT submission_id, submission_id, status, score, max_score, message, output, flags, duration_ns, created_at FROM results;

-- faults: the fault kinds (comma-separated, see faultline.FaultKinds) of the
-- test's failure report. attachments: JSON array of {"Name", "SVG"} pictures
-- the test attached (faultline.Attachment).
CREATE TABLE test_results_v3 (
	result_id INTEGER NOT NULL REFERENCES results_v3 (id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	name      TEXT NOT NULL,
	hidden    INTEGER NOT NULL CHECK (hidden IN (0, 1)),
	status    TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'skip', 'not_run')),
	score     INTEGER NOT NULL,
	max_score INTEGER NOT NULL,
	message   TEXT NOT NULL DEFAULT '',
	output    TEXT NOT NULL DEFAULT '',
	faults      TEXT NOT NULL DEFAULT '',
	attachments TEXT NOT NULL DEFAULT '[]',
	PRIMARY KEY (result_id, seq)
);
INSERT INTO test_results_v3 (result_id, seq, name, hidden, status, score, max_score, message, output)
	SELECT submission_id, seq, name, hidden, status, score, max_score, message, output FROM test_results;
DROP TABLE test_results;
DROP TABLE results;
ALTER TABLE results_v3 RENAME TO results;
ALTER TABLE test_results_v3 RENAME TO test_results;
CREATE INDEX results_submission ON results (submission_id, id);

-- result_id: the result shown (NULL until graded). priority: 0 for a
-- learner's submission, 1 for a regrade, so regrades queue behind learners.
ALTER TABLE submissions ADD COLUMN result_id INTEGER;
ALTER TABLE submissions ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN regrade_job_id INTEGER REFERENCES regrade_jobs (id) ON DELETE SET NULL;
UPDATE submissions SET result_id = (SELECT id FROM results WHERE results.submission_id = submissions.id);
DROP INDEX submissions_state_created;
CREATE INDEX submissions_queue ON submissions (state, priority, created_at, id);

-- sha256 (hex) of the secret; the secret itself is never stored.
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL CHECK (name <> ''),
	hash         TEXT NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	expires_at   TEXT,
	revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);


-- A summary of each learner's standing on each lab, kept by the store on
-- every submission and result write, so the progress matrix reads one row
-- per learner and lab instead of every submission. best_key packs the best
-- graded score and the earliest submission reaching it: (score << 32) - id.
CREATE TABLE lab_progress (
	user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab         TEXT NOT NULL,
	submissions INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	best_key    INTEGER,
	max_score   INTEGER NOT NULL,
	last_at     TEXT NOT NULL,
	PRIMARY KEY (user_id, lab)
);
INSERT INTO lab_progress (user_id, lab, submissions, attempts, best_key, max_score, last_at)
	SELECT s.user_id, s.lab, COUNT(*), COALESCE(SUM(r.status <> 'error'), 0),
	       MAX(CASE WHEN r.status <> 'error' THEN (r.score << 32) - s.id END),
	       COALESCE(MAX(CASE WHEN r.status <> 'error' THEN r.max_score END), 0), MAX(s.created_at)
	FROM submissions s LEFT JOIN results r ON r.id = s.result_id
	GROUP BY s.user_id, s.lab;
