-- 0020_mail: the outbox of outgoing email and one-time password reset tokens.

-- Every email the portal sends is a row here before anything tries to send
-- it, so a restart loses none. A worker holds a 'sending' row while
-- lease_expires is in the future; an expired lease makes it due again.
-- Sensitive bodies (a reset link) are blanked once sent.
CREATE TABLE mail_outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	kind            TEXT NOT NULL CHECK (kind <> ''),
	user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
	to_addr         TEXT NOT NULL CHECK (to_addr <> ''),
	to_name         TEXT NOT NULL DEFAULT '',
	subject         TEXT NOT NULL CHECK (subject <> ''),
	body_text       TEXT NOT NULL,
	body_html       TEXT NOT NULL,
	sensitive       INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1)),
	state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_expires   TEXT,
	created_at      TEXT NOT NULL,
	sent_at         TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at, id);

-- token_hash is the SHA-256 (hex) of the token in the emailed link.
CREATE TABLE password_resets (
	token_hash TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT
);
CREATE INDEX password_resets_user ON password_resets (user_id);
