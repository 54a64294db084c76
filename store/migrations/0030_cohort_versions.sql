-- 0030_cohort_versions: a version number per cohort that moves on with
-- every write that changes what its dashboard's progress matrix, member
-- list and conversation figures show, so the portal may keep them rendered
-- until it moves (DB.DashboardVersion). Triggers move it, in the
-- transaction of the write, for writes from any code path or process:
-- members and their accounts, lessons read, submissions and their results,
-- the lab_progress summary, extensions, score adjustments, lab settings,
-- threads, posts, reports and regrade requests. A learner's rules for a lab
-- come from every cohort they learn in, so a change of one cohort's lab
-- settings or of a learner's memberships moves the version of each cohort
-- the learners concerned belong to. More moves than needed are harmless
-- (the dashboard is read again); a missing one would show stale data,
-- which the store tests check write by write.

CREATE TABLE cohort_versions (
	cohort_id INTEGER PRIMARY KEY REFERENCES cohorts (id) ON DELETE CASCADE,
	version   INTEGER NOT NULL
);
INSERT INTO cohort_versions (cohort_id, version) SELECT id, 1 FROM cohorts;

CREATE TRIGGER cohort_versions_new AFTER INSERT ON cohorts BEGIN
	INSERT INTO cohort_versions (cohort_id, version) VALUES (NEW.id, 1);
END;

-- Members: the cohort itself, and every cohort of the user (their rules
-- for each lab may change with the cohorts they learn in).
CREATE TRIGGER cohort_versions_member_in AFTER INSERT ON memberships BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id = NEW.cohort_id OR cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_member_up AFTER UPDATE ON memberships BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (OLD.cohort_id, NEW.cohort_id)
	   OR cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_member_out AFTER DELETE ON memberships BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id = OLD.cohort_id OR cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

-- Accounts: names and emails are shown; the account role decides who may
-- be sent a reset link.
CREATE TRIGGER cohort_versions_user AFTER UPDATE OF name, email, role ON users BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.id);
END;

-- Lab settings: the cohort, and every cohort its learners belong to.
CREATE TRIGGER cohort_versions_labs_in AFTER INSERT ON cohort_labs BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id = NEW.cohort_id OR cohort_id IN (
		SELECT o.cohort_id FROM memberships m JOIN memberships o ON o.user_id = m.user_id
		WHERE m.cohort_id = NEW.cohort_id AND m.role = 'learner');
END;
CREATE TRIGGER cohort_versions_labs_up AFTER UPDATE ON cohort_labs BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (OLD.cohort_id, NEW.cohort_id) OR cohort_id IN (
		SELECT o.cohort_id FROM memberships m JOIN memberships o ON o.user_id = m.user_id
		WHERE m.cohort_id IN (OLD.cohort_id, NEW.cohort_id) AND m.role = 'learner');
END;
CREATE TRIGGER cohort_versions_labs_out AFTER DELETE ON cohort_labs BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id = OLD.cohort_id OR cohort_id IN (
		SELECT o.cohort_id FROM memberships m JOIN memberships o ON o.user_id = m.user_id
		WHERE m.cohort_id = OLD.cohort_id AND m.role = 'learner');
END;

-- A learner's own rows: every cohort they belong to.
CREATE TRIGGER cohort_versions_reads_in AFTER INSERT ON lesson_reads BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_reads_up AFTER UPDATE ON lesson_reads BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_reads_out AFTER DELETE ON lesson_reads BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

CREATE TRIGGER cohort_versions_progress_in AFTER INSERT ON lab_progress BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_progress_up AFTER UPDATE ON lab_progress BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_progress_out AFTER DELETE ON lab_progress BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

-- Submissions as the matrix reads them (who, which lab, when, the result
-- shown); a lease renewal or a state change alone leaves the version.
CREATE TRIGGER cohort_versions_subs_in AFTER INSERT ON submissions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_subs_up AFTER UPDATE OF user_id, lab, created_at, result_id ON submissions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_subs_out AFTER DELETE ON submissions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

CREATE TRIGGER cohort_versions_results_in AFTER INSERT ON results BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT m.cohort_id FROM submissions s JOIN memberships m ON m.user_id = s.user_id
		WHERE s.id = NEW.submission_id);
END;
CREATE TRIGGER cohort_versions_results_up AFTER UPDATE OF submission_id, status, score, max_score ON results BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT m.cohort_id FROM submissions s JOIN memberships m ON m.user_id = s.user_id
		WHERE s.id IN (OLD.submission_id, NEW.submission_id));
END;
CREATE TRIGGER cohort_versions_results_out AFTER DELETE ON results BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT m.cohort_id FROM submissions s JOIN memberships m ON m.user_id = s.user_id
		WHERE s.id = OLD.submission_id);
END;

CREATE TRIGGER cohort_versions_ext_in AFTER INSERT ON extensions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_ext_up AFTER UPDATE ON extensions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_ext_out AFTER DELETE ON extensions BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

CREATE TRIGGER cohort_versions_adj_in AFTER INSERT ON score_adjustments BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_adj_up AFTER UPDATE ON score_adjustments BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_adj_out AFTER DELETE ON score_adjustments BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;

-- The conversation figures: questions unanswered and unresolved, staff's
-- first replies, held and reported posts, open regrade requests. Reading a
-- thread, voting, or a thread's version and last activity moving (which
-- live pages follow) leave it.
CREATE TRIGGER cohort_versions_threads_in AFTER INSERT ON threads BEGIN
	UPDATE cohort_versions SET version = version + 1 WHERE cohort_id = NEW.cohort_id;
END;
CREATE TRIGGER cohort_versions_threads_up
AFTER UPDATE OF cohort_id, kind, author_id, group_id, shared, answer_id, created_at, first_staff_reply_at ON threads BEGIN
	UPDATE cohort_versions SET version = version + 1 WHERE cohort_id IN (OLD.cohort_id, NEW.cohort_id);
END;
CREATE TRIGGER cohort_versions_threads_out AFTER DELETE ON threads BEGIN
	UPDATE cohort_versions SET version = version + 1 WHERE cohort_id = OLD.cohort_id;
END;

CREATE TRIGGER cohort_versions_posts_in AFTER INSERT ON posts BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM threads WHERE id = NEW.thread_id);
END;
CREATE TRIGGER cohort_versions_posts_up AFTER UPDATE ON posts BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM threads WHERE id IN (OLD.thread_id, NEW.thread_id));
END;
CREATE TRIGGER cohort_versions_posts_out AFTER DELETE ON posts BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM threads WHERE id = OLD.thread_id);
END;

CREATE TRIGGER cohort_versions_reports_in AFTER INSERT ON post_reports BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT t.cohort_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = NEW.post_id);
END;
CREATE TRIGGER cohort_versions_reports_up AFTER UPDATE ON post_reports BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT t.cohort_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id IN (OLD.post_id, NEW.post_id));
END;
CREATE TRIGGER cohort_versions_reports_out AFTER DELETE ON post_reports BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT t.cohort_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = OLD.post_id);
END;

CREATE TRIGGER cohort_versions_requests_in AFTER INSERT ON regrade_requests BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = NEW.user_id);
END;
CREATE TRIGGER cohort_versions_requests_up AFTER UPDATE ON regrade_requests BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id IN (OLD.user_id, NEW.user_id));
END;
CREATE TRIGGER cohort_versions_requests_out AFTER DELETE ON regrade_requests BEGIN
	UPDATE cohort_versions SET version = version + 1
	WHERE cohort_id IN (SELECT cohort_id FROM memberships WHERE user_id = OLD.user_id);
END;
