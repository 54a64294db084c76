-- 0022_lti: LTI 1.3 platforms (LMSs) registered with this tool, the
-- tool's own signing keys, LMS courses linked to cohorts, where each
-- learner's lab score goes, the queue of scores to send, and the cursors
-- of followers of the results table.

CREATE TABLE lti_platforms (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL CHECK (name <> ''),
	issuer     TEXT NOT NULL CHECK (issuer <> ''),
	client_id  TEXT NOT NULL CHECK (client_id <> ''),
	auth_url   TEXT NOT NULL CHECK (auth_url <> ''),
	token_url  TEXT NOT NULL DEFAULT '',
	jwks_url   TEXT NOT NULL CHECK (jwks_url <> ''),
	created_by INTEGER NOT NULL REFERENCES users (id),
	created_at TEXT NOT NULL,
	UNIQUE (issuer, client_id)
);

CREATE TABLE lti_deployments (
	platform_id   INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
	deployment_id TEXT NOT NULL CHECK (deployment_id <> ''),
	PRIMARY KEY (platform_id, deployment_id)
);

-- The tool's RSA signing keys (PKCS#8 PEM). The newest signs; all are
-- published in the JWKS so a platform can check older signatures.
CREATE TABLE lti_keys (
	kid         TEXT PRIMARY KEY,
	private_pem BLOB NOT NULL,
	created_at  TEXT NOT NULL
);

CREATE TABLE lti_contexts (
	platform_id     INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
	context_id      TEXT NOT NULL CHECK (context_id <> ''),
	title           TEXT NOT NULL DEFAULT '',
	label           TEXT NOT NULL DEFAULT '',
	cohort_id       INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
	lineitems_url   TEXT NOT NULL DEFAULT '',
	memberships_url TEXT NOT NULL DEFAULT '',
	last_sync_at    TEXT,
	PRIMARY KEY (platform_id, context_id)
);
CREATE INDEX lti_contexts_cohort ON lti_contexts (cohort_id);

CREATE TABLE lti_grade_targets (
	platform_id      INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
	context_id       TEXT NOT NULL,
	resource_link_id TEXT NOT NULL,
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	subject          TEXT NOT NULL CHECK (subject <> ''),
	lab              TEXT NOT NULL CHECK (lab <> ''),
	lineitem_url     TEXT NOT NULL DEFAULT '',
	lineitems_url    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (platform_id, context_id, resource_link_id, user_id)
);
CREATE INDEX lti_grade_targets_user_lab ON lti_grade_targets (user_id, lab);

-- Scores waiting to be sent, one pending row per line item and learner.
CREATE TABLE lti_scores (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	platform_id      INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
	context_id       TEXT NOT NULL,
	resource_link_id TEXT NOT NULL,
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	subject          TEXT NOT NULL,
	lab              TEXT NOT NULL,
	lineitem_url     TEXT NOT NULL DEFAULT '',
	lineitems_url    TEXT NOT NULL DEFAULT '',
	score            INTEGER NOT NULL,
	max_score        INTEGER NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  TEXT NOT NULL,
	last_error       TEXT NOT NULL DEFAULT '',
	lease_owner      TEXT NOT NULL DEFAULT '',
	lease_expires    TEXT,
	updated_at       TEXT NOT NULL
);
CREATE INDEX lti_scores_due ON lti_scores (state, next_attempt_at, id);
CREATE INDEX lti_scores_user ON lti_scores (user_id, id);

-- Where each follower of the results table (LMS passback, grade emails)
-- has read up to.
CREATE TABLE event_cursors (
	name    TEXT PRIMARY KEY,
	last_id INTEGER NOT NULL
);
