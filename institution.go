package faultline

import (
	"context"
	"time"
)

// This file holds what the portal needs to live inside an institution: email
// (notices and the outbox that delivers them), password resets, single
// sign-on identities and LTI 1.3 links to a learning management system.

// ---- Email ----

// Recipient is the person an email goes to.
type Recipient struct {
	UserID int64
	Email  string
	Name   string
}

// NoticeKind names a kind of email the portal sends.
type NoticeKind string

const (
	NoticePasswordReset NoticeKind = "password_reset" // a link to choose a new password
	NoticeGradeReleased NoticeKind = "grade_released" // a grade the learner did not wait for (a regrade)
	NoticeDiscussion    NoticeKind = "discussion"     // a new post in a thread the person follows
)

// Notice is one email-worthy event for one person. The mail package renders
// each kind with its own templates (HTML and plain text); callers fill the
// facts, never the wording.
type Notice interface {
	NoticeKind() NoticeKind
	NoticeTo() Recipient
}

// PasswordResetNotice carries a one-time link to choose a new password. The
// link is a secret: it is never logged, and the outbox forgets the message
// body once it is sent.
type PasswordResetNotice struct {
	To      Recipient
	Link    string
	Expires time.Time
}

func (n PasswordResetNotice) NoticeKind() NoticeKind { return NoticePasswordReset }
func (n PasswordResetNotice) NoticeTo() Recipient    { return n.To }

// GradeNotice tells a learner a grade they did not wait for has landed (a
// regrade changed the score they hold for a lab).
type GradeNotice struct {
	To       Recipient
	Lab      string // slug
	LabTitle string
	Score    int
	MaxScore int
	Previous int    // the score held before; -1 when there was none
	URL      string // the submission page, absolute
}

func (n GradeNotice) NoticeKind() NoticeKind { return NoticeGradeReleased }
func (n GradeNotice) NoticeTo() Recipient    { return n.To }

// DiscussionNotice tells someone about a new post in a discussion thread.
// Author is the name as the recipient may see it: the caller puts
// "Anonymous" (or whatever the thread shows) for an anonymous author, and
// the notice never carries more than the page would show.
type DiscussionNotice struct {
	To      Recipient
	Cohort  string
	Thread  string // the thread's title
	Author  string
	Excerpt string // the start of the post, plain text
	URL     string // the thread, absolute
	Reply   bool   // a reply in a thread the person follows (else a new thread)
}

func (n DiscussionNotice) NoticeKind() NoticeKind { return NoticeDiscussion }
func (n DiscussionNotice) NoticeTo() Recipient    { return n.To }

// Notifier sends notices. Implemented by mail.Notifier, which renders and
// queues them durably; Notify returns once the message is stored, not sent.
type Notifier interface {
	// Notify renders n and queues it. EINVALID for a recipient without a
	// valid email address or an unknown kind of notice.
	Notify(ctx context.Context, n Notice) error
}

// MailState is where a queued email is.
type MailState string

const (
	MailPending MailState = "pending" // waiting to be sent, now or after a backoff
	MailSending MailState = "sending" // a worker holds a lease on it
	MailSent    MailState = "sent"
	MailFailed  MailState = "failed" // given up after its attempts; kept for the operator
)

// MailMessage is one rendered email in the outbox.
type MailMessage struct {
	ID      int64
	Kind    NoticeKind
	UserID  int64 // 0 when not for an account
	To      string
	ToName  string
	Subject string
	Text    string
	HTML    string
	// Sensitive bodies (a reset link) are erased once the message is sent.
	Sensitive bool

	State         MailState
	Attempts      int
	NextAttemptAt time.Time
	LastError     string // the last delivery error, as the server said it
	LeaseOwner    string
	LeaseExpires  time.Time
	CreatedAt     time.Time
	SentAt        time.Time
}

// MailStats describe the outbox for an operator.
type MailStats struct {
	Pending       int       // waiting (including those backing off) or being sent
	Failed        int       // given up
	OldestPending time.Time // zero when none waits
}

// Outbox is the durable queue of outgoing email. A message is stored before
// Notify returns and leaves the queue only as sent or failed.
type Outbox interface {
	// EnqueueMail stores m as pending, due now, and fills ID and CreatedAt.
	// EINVALID for an empty recipient or subject or no body.
	EnqueueMail(ctx context.Context, m *MailMessage) error
	// ClaimMail takes the oldest due pending message (or one whose sending
	// lease expired) with a lease for worker and counts an attempt;
	// ENOTFOUND when nothing is due.
	ClaimMail(ctx context.Context, worker string, lease time.Duration) (*MailMessage, error)
	// MarkMailSent records delivery; ECONFLICT unless worker holds the lease.
	MarkMailSent(ctx context.Context, id int64, worker string) error
	// RetryMail puts the message back as pending, due at next, with the
	// error; ECONFLICT unless worker holds the lease.
	RetryMail(ctx context.Context, id int64, worker, lastError string, next time.Time) error
	// FailMail gives up on the message, keeping it with the error;
	// ECONFLICT unless worker holds the lease.
	FailMail(ctx context.Context, id int64, worker, lastError string) error
	// MailStats counts pending and failed messages.
	MailStats(ctx context.Context) (MailStats, error)
}

// ---- Password resets ----

// PasswordResetService stores one-time password reset tokens (as hashes).
type PasswordResetService interface {
	// CreatePasswordReset stores the hash of a new token for the user,
	// valid until expires. ENOTFOUND for an unknown user.
	CreatePasswordReset(ctx context.Context, userID int64, tokenHash string, expires time.Time) error
	// FindPasswordReset returns the user a live token belongs to; ENOTFOUND
	// for an unknown, used or expired token.
	FindPasswordReset(ctx context.Context, tokenHash string) (*User, error)
	// ResetPassword uses the token once: it sets the user's password hash,
	// ends every session of the user and voids every other token of theirs,
	// in one transaction. ENOTFOUND for an unknown, used or expired token.
	ResetPassword(ctx context.Context, tokenHash, passwordHash string) (*User, error)
}

// NoPassword is the password hash of an account made by single sign-on or
// an LMS launch: no password matches it, so the account signs in only
// through its linked identities (or after a password reset).
const NoPassword = "!"

// ---- Operations ----

// GradeTiming is how long one grade took, for the operator's metrics.
type GradeTiming struct {
	ResultID int64
	Lab      string
	Status   ResultStatus
	Duration time.Duration // the grading run
	// Wait is how long the submission queued before its grading started;
	// zero for regrades (they keep the learner's original submission time).
	Wait    time.Duration
	Regrade bool
}

// Probe is one dependency a readiness check looks at.
type Probe struct {
	Name  string // "database", "engine"
	Check func(ctx context.Context) error
	// Optional probes are reported but do not make the portal unready:
	// lessons still serve while the container engine is down.
	Optional bool
}
