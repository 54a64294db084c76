package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// BenchSeed describes a synthetic cohort for benchmarks and tests.
type BenchSeed struct {
	Learners   int      // learners in the cohort
	Labs       []string // lab slugs each learner submits to
	SubsPerLab int      // graded submissions per learner and lab
	Tests      int      // tests per lab result (default 6)
	Lessons    []string // lessons each learner may have read (about half are marked read)
	Seed       uint64   // random seed; equal seeds give equal data
}

// SeedCohortForBench fills db with one instructor, a cohort of s.Learners
// learners and, for each learner and lab, s.SubsPerLab graded submissions
// with per-test results (failing tests carry a labkit-style report listing
// faults), plus lesson reads, all in one transaction. Scores climb with
// attempts and about two thirds of learners reach full marks. It returns the
// cohort. Emails are derived from the cohort's id, so it may run several
// times on one database. EINVALID for non-positive counts or no labs.
func SeedCohortForBench(ctx context.Context, db *DB, s BenchSeed) (*faultline.Cohort, error) {
	if s.Learners <= 0 || s.SubsPerLab <= 0 || len(s.Labs) == 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "Seed needs learners, labs and submissions.")
	}
	if s.Tests <= 0 {
		s.Tests = 6
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	// One big transaction: a larger page cache on the (single) write
	// connection keeps SQLite from spilling pages to the WAL mid-way.
	if _, err := db.write.ExecContext(ctx, `PRAGMA cache_size = -131072`); err != nil {
		return nil, fmt.Errorf("seed: cache size: %w", err)
	}
	defer db.write.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := tx.now

	var tag int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM cohorts`).Scan(&tag); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	inst := &faultline.User{Email: fmt.Sprintf("bench-%d-instructor@example.com", tag), Name: "Bench Instructor",
		Role: faultline.RoleInstructor, PasswordHash: "x"}
	if err := createUser(ctx, tx, inst); err != nil {
		return nil, err
	}
	c := &faultline.Cohort{Name: fmt.Sprintf("Bench cohort %d", tag), InviteCode: fmt.Sprintf("bench-%d", tag), CreatedBy: inst.ID, CreatedAt: now}
	if err := tx.QueryRowContext(ctx, `INSERT INTO cohorts (name, invite_code, created_by, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		c.Name, c.InviteCode, c.CreatedBy, encodeTime(now)).Scan(&c.ID); err != nil {
		return nil, fmt.Errorf("seed: cohort: %w", err)
	}
	if err := addMember(ctx, tx, c.ID, inst.ID, faultline.MemberInstructor); err != nil {
		return nil, err
	}

	prep := func(q string) (*stmt, error) {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("seed: prepare: %w", err)
		}
		return &stmt{st}, nil
	}
	insSub, err := prep(`INSERT INTO submissions (user_id, lab, state, attempts, lease_owner, created_at, started_at, finished_at)
		VALUES (?, ?, 'done', 1, 'bench', ?, ?, ?) RETURNING id`)
	if err != nil {
		return nil, err
	}
	defer insSub.Close()
	insFile, err := prep(`INSERT INTO submission_files (submission_id, path, content) VALUES (?, 'main.go', ?)`)
	if err != nil {
		return nil, err
	}
	defer insFile.Close()
	insRes, err := prep(`INSERT INTO results (submission_id, status, score, max_score, message, created_at)
		VALUES (?, 'graded', ?, ?, '', ?) RETURNING id`)
	if err != nil {
		return nil, err
	}
	defer insRes.Close()
	setRes, err := prep(`UPDATE submissions SET result_id = ? WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	defer setRes.Close()
	insTest, err := prep(`INSERT INTO test_results (result_id, seq, name, hidden, status, score, max_score, message, output, faults)
		VALUES (?, ?, ?, ?, ?, ?, 10, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insTest.Close()
	insRead, err := prep(`INSERT INTO lesson_reads (user_id, slug, read_at) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insRead.Close()

	faultLines := []string{"partition n1 | n2 n3", "crash n2", "link n1 -> n2: latency 1ms, loss 20%", "one-way partition n3 -> n1"}
	max := 10 * s.Tests
	start := now.Add(-time.Duration(s.Learners*len(s.Labs)*s.SubsPerLab) * time.Second)
	k := 0
	for i := range s.Learners {
		u := &faultline.User{Email: fmt.Sprintf("bench-%d-learner-%04d@example.com", tag, i), Name: fmt.Sprintf("Learner %04d", i),
			Role: faultline.RoleLearner, PasswordHash: "x"}
		if err := createUser(ctx, tx, u); err != nil {
			return nil, err
		}
		if err := addMember(ctx, tx, c.ID, u.ID, faultline.MemberLearner); err != nil {
			return nil, err
		}
		for _, l := range s.Lessons {
			if rng.IntN(2) == 0 {
				if err := insRead.exec(ctx, u.ID, l, encodeTime(start)); err != nil {
					return nil, err
				}
			}
		}
		solver := rng.IntN(3) != 0
		for _, lab := range s.Labs {
			passing := 0
			for n := range s.SubsPerLab {
				at := start.Add(time.Duration(k) * time.Second)
				k++
				var sid int64
				if err := insSub.row(ctx, []any{&sid}, u.ID, lab, encodeTime(at), encodeTime(at), encodeTime(at.Add(time.Second))); err != nil {
					return nil, err
				}
				if err := insFile.exec(ctx, sid, []byte(fmt.Sprintf("package lab // %d %s %d\n", u.ID, lab, n))); err != nil {
					return nil, err
				}
				// Passing tests climb with attempts; non-solvers stop short.
				if passing < s.Tests && rng.IntN(2) == 0 {
					passing++
				}
				if !solver && passing == s.Tests {
					passing = s.Tests - 1
				}
				var rid int64
				if err := insRes.row(ctx, []any{&rid}, sid, passing*10, max, encodeTime(at.Add(time.Second))); err != nil {
					return nil, err
				}
				if err := setRes.exec(ctx, rid, sid); err != nil {
					return nil, err
				}
				for t := range s.Tests {
					status, score, msg, out, faults := "pass", 10, "", "", ""
					if t >= passing {
						f := faultLines[(t+i)%len(faultLines)]
						status, score, msg = "fail", 0, "property broken"
						out = "\nPROPERTY BROKEN: it broke\n\nFaults injected:\n  at 1s: " + f + "\nSeed: 1\n"
						faults = joinKinds(faultline.FaultKinds(out))
					}
					if err := insTest.exec(ctx, rid, t, fmt.Sprintf("Test%02d", t), t%2, status, score, msg, out, faults); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(progressSQL,
		"s.user_id IN (SELECT user_id FROM memberships WHERE cohort_id = ?)"), c.ID); err != nil {
		return nil, fmt.Errorf("seed: progress: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed: commit: %w", err)
	}
	return c, nil
}

func joinKinds(ks []string) string { return strings.Join(ks, ",") }

// stmt wraps a prepared statement with error-wrapping helpers for the seeder.
type stmt struct{ *sql.Stmt }

func (s *stmt) exec(ctx context.Context, args ...any) error {
	if _, err := s.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func (s *stmt) row(ctx context.Context, dest []any, args ...any) error {
	if err := s.QueryRowContext(ctx, args...).Scan(dest...); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
