-- 0012_inbox: the in-app inbox and each user's settings per kind of
-- notification (a missing row means the default).

CREATE TABLE notifications (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	cohort_id  INTEGER REFERENCES cohorts (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,
	actor      TEXT NOT NULL DEFAULT '',
	title      TEXT NOT NULL,
	excerpt    TEXT NOT NULL DEFAULT '',
	url        TEXT NOT NULL DEFAULT '',
	read_at    TEXT,
	created_at TEXT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE notification_settings (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind    TEXT NOT NULL,
	inbox   INTEGER NOT NULL CHECK (inbox IN (0, 1)),
	email   INTEGER NOT NULL CHECK (email IN (0, 1)),
	PRIMARY KEY (user_id, kind)
);
