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

// ---- Identities: single sign-on and LMS accounts ----

// IdentityKind says where an external identity comes from.
type IdentityKind string

const (
	IdentityOIDC IdentityKind = "oidc" // an OpenID Connect provider (single sign-on)
	IdentityLTI  IdentityKind = "lti"  // an LTI 1.3 platform (an LMS)
)

// Identity links an account to a person at an identity provider or LMS,
// by the provider's issuer and its subject for the person, which never
// change. Email is never used to link: it only fills a new account.
type Identity struct {
	Kind       IdentityKind
	Issuer     string
	Subject    string
	UserID     int64
	Email      string // as the provider said at the last sign-in, for the record
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// IdentityService stores identity links.
type IdentityService interface {
	// FindIdentity returns the link and its account; ENOTFOUND if none.
	FindIdentity(ctx context.Context, kind IdentityKind, issuer, subject string) (*Identity, *User, error)
	// CreateUserWithIdentity creates u (a password hash of NoPassword is
	// fine) and links id to it in one transaction. ECONFLICT when the
	// email is taken by another account (it is not linked to it) or the
	// identity is linked already; EINVALID as CreateUser.
	CreateUserWithIdentity(ctx context.Context, u *User, id *Identity) error
	// LinkIdentity links id to the existing account id.UserID. ECONFLICT
	// if the identity is linked to another account; linking it again to
	// the same one only updates LastSeenAt.
	LinkIdentity(ctx context.Context, id *Identity) error
	// TouchIdentity records a sign-in now and the email the provider gave.
	TouchIdentity(ctx context.Context, kind IdentityKind, issuer, subject, email string) error
	// ListIdentities returns the links of an account, oldest first.
	ListIdentities(ctx context.Context, userID int64) ([]*Identity, error)
}

// AuthState is the server side of one sign-in through a provider: the
// state value the browser carries (stored hashed), the nonce the id_token
// must echo, the PKCE verifier, and where to go afterwards. Each is used
// once.
type AuthState struct {
	ID         string // SHA-256 (hex) of the state value
	Kind       IdentityKind
	Nonce      string
	Verifier   string // PKCE code verifier (OIDC)
	Next       string // local path to go to after signing in
	LinkUserID int64  // link the identity to this signed-in account instead of signing in
	Data       string // kind-specific (LTI: the platform's id)
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// AuthStateService stores sign-in states and the nonces seen.
type AuthStateService interface {
	// CreateAuthState stores s; EINVALID without an ID or expiry.
	CreateAuthState(ctx context.Context, s *AuthState) error
	// TakeAuthState returns the state and deletes it, so it works once;
	// ENOTFOUND when unknown, taken already or expired.
	TakeAuthState(ctx context.Context, id string) (*AuthState, error)
	// UseNonce records a nonce of an issuer until expires; ECONFLICT when
	// it was recorded before (a replay).
	UseNonce(ctx context.Context, issuer, nonce string, expires time.Time) error
}

// SingleSignOn signs people in through an OpenID Connect provider.
// Implemented by sso.Service.
type SingleSignOn interface {
	// Name is the provider's name for the sign-in button.
	Name() string
	// Start begins a sign-in that returns to next (a local path); with
	// linkUserID set it links the identity to that signed-in account
	// instead. It returns the provider URL to send the browser to and the
	// state value the browser must bring back (keep it in a cookie).
	Start(ctx context.Context, next string, linkUserID int64) (redirect, state string, err error)
	// Complete finishes a sign-in with the state and the authorization
	// code the provider returned: it checks the state (once, unexpired),
	// exchanges the code with the PKCE verifier, verifies the id_token
	// (signature against the provider's keys, issuer, audience, expiry,
	// nonce never seen before) and returns the account linked to the
	// provider's (issuer, subject), creating it on first sign-in, and
	// where to go next. EUNAUTHORIZED for a token or state that fails a
	// check, ECONFLICT when a new account's email is taken (it is never
	// linked by email), EUNAVAILABLE when the provider cannot be reached.
	Complete(ctx context.Context, state, code string) (*User, string, error)
}
