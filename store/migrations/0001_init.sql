-- 0001_init: the initial schema. Times are fixed-width UTC text
-- (2006-01-02T15:04:05.000000000Z); NULL means "not yet".

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,            -- stored lower-case
	name          TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL CHECK (role IN ('admin', 'instructor', 'learner')),
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL
);

-- id is the SHA-256 (hex) of the cookie token.
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE cohorts (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL CHECK (name <> ''),
	invite_code TEXT NOT NULL UNIQUE CHECK (invite_code <> ''),
	created_by  INTEGER NOT NULL REFERENCES users (id),
	created_at  TEXT NOT NULL
);

CREATE TABLE memberships (
	cohort_id INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role      TEXT NOT NULL CHECK (role IN ('instructor', 'learner')),
	joined_at TEXT NOT NULL,
	PRIMARY KEY (cohort_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

CREATE TABLE lesson_reads (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	slug    TEXT NOT NULL,
	read_at TEXT NOT NULL,
	PRIMARY KEY (user_id, slug)
);

-- Every save of a workspace file is a row; a delete is a tombstone row
-- (deleted = 1, empty content). The live file is the newest row per path
-- when that row is not a tombstone.
CREATE TABLE file_versions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab        TEXT NOT NULL,
	path       TEXT NOT NULL,
	content    BLOB NOT NULL,
	deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
	created_at TEXT NOT NULL
);
CREATE INDEX file_versions_user_lab_path ON file_versions (user_id, lab, path, id);

CREATE TABLE sandboxes (
	id             INTEGER PRIMARY KEY,
	user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab            TEXT NOT NULL,
	container_id   TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopped', 'failed')),
	error          TEXT NOT NULL DEFAULT '',
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL,
	last_active_at TEXT NOT NULL,
	UNIQUE (user_id, lab)
);
CREATE INDEX sandboxes_state ON sandboxes (state);

-- The grading queue. A worker owns a running row while lease_expires is in
-- the future.
CREATE TABLE submissions (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab           TEXT NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
	attempts      INTEGER NOT NULL DEFAULT 0,
	lease_owner   TEXT NOT NULL DEFAULT '',
	lease_expires TEXT,
	created_at    TEXT NOT NULL,
	started_at    TEXT,
	finished_at   TEXT
);
CREATE INDEX submissions_state_created ON submissions (state, created_at, id);
CREATE INDEX submissions_user_lab ON submissions (user_id, lab, id);
CREATE INDEX submissions_lab ON submissions (lab, id);

CREATE TABLE submission_files (
	submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
	path          TEXT NOT NULL,
	content       BLOB NOT NULL,
	PRIMARY KEY (submission_id, path)
);

-- One result per submission: the primary key makes a second result impossible.
CREATE TABLE results (
	submission_id INTEGER PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
	status        TEXT NOT NULL,
	score         INTEGER NOT NULL,
	max_score     INTEGER NOT NULL,
	message       TEXT NOT NULL DEFAULT '',
	output        TEXT NOT NULL DEFAULT '',
	flags         TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings
	duration_ns   INTEGER NOT NULL DEFAULT 0,
	created_at    TEXT NOT NULL
);

-- One row per graded test, so dashboards can ask which tests fail most.
CREATE TABLE test_results (
	submission_id INTEGER NOT NULL REFERENCES results (submission_id) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,                -- order the grader reported
	name          TEXT NOT NULL,
	hidden        INTEGER NOT NULL CHECK (hidden IN (0, 1)),
	status        TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'skip', 'not_run')),
	score         INTEGER NOT NULL,
	max_score     INTEGER NOT NULL,
	message       TEXT NOT NULL DEFAULT '',
	output        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (submission_id, seq)
);
CREATE INDEX test_results_name_status ON test_results (name, status);
