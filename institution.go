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
// regrade changed the score of one of their submissions).
type GradeNotice struct {
	To       Recipient
	Lab      string // slug
	LabTitle string
	Score    int
	MaxScore int
	Previous int    // the submission's score before; -1 when there was none
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

// PasswordRecovery is the use case of forgotten passwords. Implemented by
// recovery.Service.
type PasswordRecovery interface {
	// Enabled reports whether reset links can be sent (email is set up).
	Enabled() bool
	// Request emails a reset link when an account has the address; it
	// answers the same (nil) either way. EINVALID for a malformed address,
	// ETOOMANY past the per-client and per-address limits.
	Request(ctx context.Context, email, client string) error
	// Check returns the account of a live link; ENOTFOUND otherwise.
	Check(ctx context.Context, token string) (*User, error)
	// Reset sets a new password through a live link, once; EINVALID for a
	// password that breaks the rule, ENOTFOUND for a dead link.
	Reset(ctx context.Context, token, password, confirm string) (*User, error)
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

// ---- Grade events: what the passback and grade emails follow ----

// GradeEvent is one result stored for a submission.
type GradeEvent struct {
	ResultID     int64
	SubmissionID int64
	UserID       int64
	Lab          string
	Regrade      bool // stored by a regrade job, not the learner's own submit
	Status       ResultStatus
	Score        int
	MaxScore     int
	// PrevScore is the score of the submission's previous result, -1
	// when this is its first.
	PrevScore int
}

// ScoreChange records that the score a learner holds for a lab may have
// changed without a new grade: an instructor adjusted it, or granted,
// changed or removed an extension.
type ScoreChange struct {
	ID     int64
	UserID int64
	Lab    string
	Reason string // "adjustment" or "extension"
	At     time.Time
}

// GradeEventService reads results (and score changes) in the order they were
// stored and keeps named cursors, so a follower resumes where it stopped
// after a restart.
type GradeEventService interface {
	// GradeEvents returns up to limit results with ids above afterID, in id order.
	GradeEvents(ctx context.Context, afterID int64, limit int) ([]GradeEvent, error)
	// EventCursor returns the named cursor; ENOTFOUND if it was never set.
	EventCursor(ctx context.Context, name string) (int64, error)
	// SetEventCursor sets the named cursor.
	SetEventCursor(ctx context.Context, name string, id int64) error
	// LatestResultID is the newest result's id (0 when none).
	LatestResultID(ctx context.Context) (int64, error)
	// ScoreChanges returns up to limit score changes with ids above
	// afterID, in id order.
	ScoreChanges(ctx context.Context, afterID int64, limit int) ([]ScoreChange, error)
	// LatestScoreChangeID is the newest score change's id (0 when none).
	LatestScoreChangeID(ctx context.Context) (int64, error)
}

// ScoreSource gives the one score a learner holds for a lab, the number
// every grade surface shows. It is what LMS passback and grade emails
// send.
type ScoreSource interface {
	// HeldScore returns the learner's score and the lab's maximum;
	// ENOTFOUND when the learner has no graded submission for the lab.
	HeldScore(ctx context.Context, userID int64, lab string) (score, max int, err error)
}

// ---- LTI 1.3 ----

// LTIPlatform is an LMS registered with this tool.
type LTIPlatform struct {
	ID          int64
	Name        string
	Issuer      string // the platform's issuer (iss of its id_tokens)
	ClientID    string // the client id the platform gave this tool
	AuthURL     string // the platform's OIDC authentication request endpoint
	TokenURL    string // the platform's OAuth2 token endpoint (for services)
	JWKSURL     string // the platform's public keys
	Deployments []string
	CreatedBy   int64
	CreatedAt   time.Time
}

// LTIKey is one of the tool's own signing keys (RSA, PKCS#8 PEM).
type LTIKey struct {
	KID        string
	PrivatePEM []byte
	CreatedAt  time.Time
}

// LTIContext links an LMS course (context) to a cohort, with the service
// endpoints its launches announced.
type LTIContext struct {
	PlatformID     int64
	ContextID      string
	Title          string
	Label          string
	CohortID       int64
	LineItemsURL   string // AGS line items container; "" when not offered
	MembershipsURL string // NRPS context memberships; "" when not offered
	LastSyncAt     time.Time
}

// LTIGradeTarget is where a learner's score for a lab goes: the line item
// of the resource link they launched the lab from.
type LTIGradeTarget struct {
	PlatformID     int64
	ContextID      string
	ResourceLinkID string
	UserID         int64
	Subject        string // the learner's LTI user id (sub)
	Lab            string
	LineItemURL    string // "" until found or created in LineItemsURL
	LineItemsURL   string
}

// LTIScoreJob is a score waiting to be sent to a platform.
type LTIScoreJob struct {
	ID            int64
	Target        LTIGradeTarget
	Score         int
	MaxScore      int
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	State         string // "pending", "sending", "sent", "failed"
	UpdatedAt     time.Time
}

// LTIStore keeps LTI registrations, links and the passback queue.
type LTIStore interface {
	// CreateLTIPlatform registers p; ECONFLICT for a taken (issuer, client id).
	CreateLTIPlatform(ctx context.Context, p *LTIPlatform) error
	// DeleteLTIPlatform removes a registration (cohorts and accounts stay).
	DeleteLTIPlatform(ctx context.Context, id int64) error
	ListLTIPlatforms(ctx context.Context) ([]*LTIPlatform, error)
	FindLTIPlatform(ctx context.Context, id int64) (*LTIPlatform, error)
	// FindLTIPlatformByIssuer finds the registration for issuer and client
	// id; with an empty client id the issuer must have exactly one.
	// ENOTFOUND when none, EINVALID when the client id is needed.
	FindLTIPlatformByIssuer(ctx context.Context, issuer, clientID string) (*LTIPlatform, error)

	// ToolKey returns the newest signing key, storing newKey() first when
	// there is none. ToolKeys lists every key (for the JWKS).
	ToolKey(ctx context.Context, newKey func() (*LTIKey, error)) (*LTIKey, error)
	ToolKeys(ctx context.Context) ([]*LTIKey, error)

	// LinkLTIContext returns the cohort linked to the context, creating
	// the cohort (named after the course, created by createdBy) and the
	// link in one transaction on first launch; it records the service
	// URLs the launch announced.
	LinkLTIContext(ctx context.Context, c *LTIContext, createdBy int64, inviteCode string) (*LTIContext, error)
	FindLTIContextByCohort(ctx context.Context, cohortID int64) (*LTIContext, error)
	MarkLTISynced(ctx context.Context, platformID int64, contextID string) error

	UpsertLTIGradeTarget(ctx context.Context, t *LTIGradeTarget) error
	LTIGradeTargets(ctx context.Context, userID int64, lab string) ([]*LTIGradeTarget, error)
	// LTITargetsSettingsChanged lists the grade targets whose cohort changed
	// the lab's settings (due date, late policy) after since, and the
	// newest such change (since when none).
	LTITargetsSettingsChanged(ctx context.Context, since time.Time) ([]*LTIGradeTarget, time.Time, error)
	// SetLTILineItem records the line item found or created for a link's lab.
	SetLTILineItem(ctx context.Context, platformID int64, contextID, resourceLinkID, lab, lineItemURL string) error

	// EnqueueLTIScore queues the score for the target, replacing one still
	// waiting for the same line item and learner.
	EnqueueLTIScore(ctx context.Context, j *LTIScoreJob) error
	// ClaimLTIScore takes the oldest due job with a lease; ENOTFOUND if none.
	ClaimLTIScore(ctx context.Context, worker string, lease time.Duration) (*LTIScoreJob, error)
	// FinishLTIScore records the outcome of a claimed job: sent (errText
	// ""), retry at next, or failed for good (next zero).
	FinishLTIScore(ctx context.Context, id int64, worker, errText string, next time.Time) error
	ListLTIScores(ctx context.Context, userID int64) ([]*LTIScoreJob, error)
}

// LTILogin is a platform's third-party login initiation.
type LTILogin struct {
	Issuer        string
	LoginHint     string
	TargetLinkURI string
	MessageHint   string
	ClientID      string // optional
	DeploymentID  string // optional
}

// LTILaunchResult is what a verified launch leads to.
type LTILaunchResult struct {
	User     *User
	Redirect string // a local path to send the browser to
	// DeepLink is set for a deep linking request: the instructor picks
	// what to place in the course.
	DeepLink *LTIDeepLinkRequest
}

// LTIDeepLinkRequest is a deep linking request waiting for the
// instructor's choice; Token names it (it works once, for an hour).
type LTIDeepLinkRequest struct {
	Token          string
	Platform       string
	Course         string
	AcceptMultiple bool
}

// LTIContentItem is one lab or lesson placed in a course.
type LTIContentItem struct {
	Kind  string // "lab" or "lesson"
	Slug  string
	Title string
}

// LTIRosterReport says what a roster sync did.
type LTIRosterReport struct {
	Members  int // active members the platform listed
	Created  int // accounts made
	Added    int // memberships added or changed
	Removed  int // learners taken off because the platform lists them inactive
	Warnings []string
}

// LTITool is the LTI 1.3 tool the web layer drives. Implemented by
// lti.Service; every method checks the viewer's rights itself.
type LTITool interface {
	// Login answers a third-party login initiation: it returns the
	// platform URL to send the browser to and the state to keep in a
	// cookie. ENOTFOUND for an unregistered platform, EINVALID for a bad
	// request.
	Login(ctx context.Context, req LTILogin) (redirect, state string, err error)
	// Launch verifies an id_token posted back with the state and acts on
	// it. EUNAUTHORIZED for anything that fails the LTI security checks.
	Launch(ctx context.Context, state, idToken string) (*LTILaunchResult, error)
	// DeepLinkResponse signs the response to a deep linking request with
	// the chosen items and returns where to post it. ENOTFOUND for an
	// unknown or used token or another viewer's.
	DeepLinkResponse(ctx context.Context, viewer *User, token string, items []LTIContentItem) (returnURL, jwt string, err error)
	// JWKS returns the tool's public keys as a JSON Web Key Set.
	JWKS(ctx context.Context) ([]byte, error)
	// Platforms, RegisterPlatform and DeletePlatform are for admins
	// (ENOTFOUND for anyone else).
	Platforms(ctx context.Context, viewer *User) ([]*LTIPlatform, error)
	RegisterPlatform(ctx context.Context, viewer *User, p *LTIPlatform) error
	DeletePlatform(ctx context.Context, viewer *User, id int64) error
	// CohortLink returns the course linked to a cohort the viewer teaches
	// (ENOTFOUND when none is, or the viewer does not teach it).
	CohortLink(ctx context.Context, viewer *User, cohortID int64) (*LTIContext, error)
	// SyncRoster reads the course's roster from the platform (Names and
	// Role Provisioning) into the cohort.
	SyncRoster(ctx context.Context, viewer *User, cohortID int64) (*LTIRosterReport, error)
}
