-- 0004_course_core: restore points get tables of their own, file versions
-- record their size (the per-learner storage budget sums it), replays are
-- logged (they count against a learner's allowance), and each test result
-- records the run a replay repeats.

ALTER TABLE file_versions ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE file_versions SET size = length(content);
CREATE INDEX file_versions_user ON file_versions (user_id, id);

-- A restore point names, for each file live at that moment, the version
-- that was live. Its versions are pinned: thinning never deletes them.
CREATE TABLE restore_points (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	lab        TEXT NOT NULL,
	label      TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX restore_points_user_lab ON restore_points (user_id, lab, id);

CREATE TABLE restore_point_files (
	point_id   INTEGER NOT NULL REFERENCES restore_points (id) ON DELETE CASCADE,
	path       TEXT NOT NULL,
	version_id INTEGER NOT NULL REFERENCES file_versions (id),
	PRIMARY KEY (point_id, path)
);
CREATE INDEX restore_point_files_version ON restore_point_files (version_id);

-- Until now restore points were a JSON manifest saved as the file
-- points.json of a companion workspace "<lab>~restore-points":
-- [{"id", "label", "at", "files": [{"path", "version"}]}]. Move the newest
-- manifest of each learner and lab into the tables, oldest point first, and
-- drop the companion workspaces.
CREATE TEMP TABLE legacy_points (
	nid     INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	lab     TEXT NOT NULL,
	label   TEXT NOT NULL,
	at      TEXT NOT NULL,
	files   TEXT NOT NULL
);
INSERT INTO legacy_points (user_id, lab, label, at, files)
	SELECT fv.user_id, substr(fv.lab, 1, length(fv.lab) - length('~restore-points')),
	       COALESCE(json_extract(p.value, '$.label'), 'Restore point'),
	       COALESCE(strftime('%Y-%m-%dT%H:%M:%f', json_extract(p.value, '$.at')) || '000000Z', fv.created_at),
	       COALESCE(json_extract(p.value, '$.files'), '[]')
	FROM file_versions fv, json_each(fv.content) p
	WHERE fv.id IN (SELECT MAX(id) FROM file_versions
	                WHERE lab LIKE '%~restore-points' AND path = 'points.json' GROUP BY user_id, lab)
	  AND fv.deleted = 0 AND json_valid(fv.content)
	ORDER BY fv.user_id, fv.lab, json_extract(p.value, '$.id');
INSERT INTO restore_points (id, user_id, lab, label, created_at)
	SELECT nid, user_id, lab, label, at FROM legacy_points ORDER BY nid;
INSERT OR IGNORE INTO restore_point_files (point_id, path, version_id)
	SELECT lp.nid, json_extract(f.value, '$.path'), json_extract(f.value, '$.version')
	FROM legacy_points lp, json_each(lp.files) f
	WHERE json_extract(f.value, '$.version') IN (SELECT id FROM file_versions);
DROP TABLE legacy_points;
DELETE FROM file_versions WHERE lab LIKE '%~restore-points';

-- Every replay anyone started, so a learner's replays count against their
-- allowance across restarts.
CREATE TABLE replays (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
	lab           TEXT NOT NULL,
	test          TEXT NOT NULL,
	seed          INTEGER NOT NULL,
	created_at    TEXT NOT NULL
);
CREATE INDEX replays_user_created ON replays (user_id, created_at);

-- failed_run: the failing (sub)test's path as the test events reported it,
-- seed: the labkit seed of its report (faultline.TestResult).
ALTER TABLE test_results ADD COLUMN failed_run TEXT NOT NULL DEFAULT '';
ALTER TABLE test_results ADD COLUMN seed INTEGER NOT NULL DEFAULT 0;

-- The fair claim asks, per learner with queued work, how many of theirs are
-- running and when their last grading started.
CREATE INDEX submissions_user_state ON submissions (user_id, state);
CREATE INDEX submissions_user_started ON submissions (user_id, started_at);
