-- 0023_score_changes: changes to the score a learner holds for a lab that
-- are not grades (a score adjustment; an extension granted, changed or
-- removed), written in the same transaction as the change, so followers
-- such as the LMS passback send the new score even across a restart.

CREATE TABLE score_changes (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab     TEXT NOT NULL CHECK (lab <> ''),
	reason  TEXT NOT NULL CHECK (reason IN ('adjustment', 'extension')),
	at      TEXT NOT NULL
);
