-- 0010_discussions: a cohort's discussions. Threads on a place (the cohort,
-- a lesson, a case study, a lab), posts with their edit history, small
-- groups for case prompts, "same question" votes, read marks, reports of
-- posts and the staff's audit log.

CREATE TABLE discussion_groups (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	cohort_id   INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	name        TEXT NOT NULL CHECK (name <> ''),
	archived_at TEXT,
	created_at  TEXT NOT NULL
);
CREATE INDEX discussion_groups_cohort ON discussion_groups (cohort_id, id);

CREATE TABLE discussion_group_members (
	group_id INTEGER NOT NULL REFERENCES discussion_groups (id) ON DELETE CASCADE,
	user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX discussion_group_members_user ON discussion_group_members (user_id);

-- place_kind/place_slug: where it is listed ('cohort' with slug '').
-- group_id/prompt: a group's thread on prompt N (1-based) of the case study
-- place_slug; unique per group, case and prompt. run: the attached failing
-- run (JSON, see faultline.RunAttachment), NULL for none.
CREATE TABLE threads (
	id                   INTEGER PRIMARY KEY AUTOINCREMENT,
	cohort_id            INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	place_kind           TEXT NOT NULL CHECK (place_kind IN ('cohort', 'lesson', 'case', 'lab')),
	place_slug           TEXT NOT NULL DEFAULT '',
	kind                 TEXT NOT NULL CHECK (kind IN ('question', 'discussion', 'announcement')),
	title                TEXT NOT NULL CHECK (title <> ''),
	author_id            INTEGER REFERENCES users (id) ON DELETE SET NULL,
	anonymous            INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
	private              INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),
	group_id             INTEGER REFERENCES discussion_groups (id) ON DELETE CASCADE,
	prompt               INTEGER NOT NULL DEFAULT 0,
	shared               INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
	pinned               INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
	locked               INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
	answer_id            INTEGER,
	run                  TEXT,
	version              INTEGER NOT NULL DEFAULT 1,
	created_at           TEXT NOT NULL,
	last_activity_at     TEXT NOT NULL,
	first_staff_reply_at TEXT
);
CREATE INDEX threads_cohort_activity ON threads (cohort_id, last_activity_at);
CREATE INDEX threads_cohort_place ON threads (cohort_id, place_kind, place_slug);
CREATE UNIQUE INDEX threads_group_prompt ON threads (group_id, place_slug, prompt) WHERE group_id IS NOT NULL;

CREATE TABLE posts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	thread_id   INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	parent_id   INTEGER REFERENCES posts (id) ON DELETE SET NULL,
	opening     INTEGER NOT NULL DEFAULT 0 CHECK (opening IN (0, 1)),
	author_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
	staff       INTEGER NOT NULL DEFAULT 0 CHECK (staff IN (0, 1)),
	anonymous   INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
	body        TEXT NOT NULL,
	html        TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('visible', 'held', 'hidden', 'deleted')),
	held_reason TEXT NOT NULL DEFAULT '',
	endorsed_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
	edits       INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL,
	edited_at   TEXT
);
CREATE INDEX posts_thread ON posts (thread_id, id);
CREATE INDEX posts_author ON posts (author_id);

-- Every earlier text of a post; body is the text an edit replaced.
CREATE TABLE post_revisions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	body       TEXT NOT NULL,
	editor_id  INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX post_revisions_post ON post_revisions (post_id, id);

CREATE TABLE thread_votes (
	thread_id  INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	PRIMARY KEY (thread_id, user_id)
);

-- post_id: the newest post the user has read.
CREATE TABLE thread_reads (
	user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	post_id   INTEGER NOT NULL,
	PRIMARY KEY (user_id, thread_id)
);

CREATE TABLE post_reports (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	post_id     INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
	reporter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	reason      TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	resolved_at TEXT,
	resolved_by INTEGER REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX post_reports_post ON post_reports (post_id);
CREATE UNIQUE INDEX post_reports_open ON post_reports (post_id, reporter_id) WHERE resolved_at IS NULL;

CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	cohort_id  INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	actor_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
	action     TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL
);
CREATE INDEX audit_log_cohort ON audit_log (cohort_id, id);
