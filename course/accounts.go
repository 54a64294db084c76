package course

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
)

// Accounts, sign-in sessions and personal access tokens.

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 14 * 24 * time.Hour

// RandomToken returns n random bytes, URL-safe base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS cannot supply randomness)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SessionID is the session ID stored for a cookie token: its SHA-256, hex.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewAccount is the input of a form that creates an account.
type NewAccount struct {
	Name, Email, Password, Confirm string
	Role                           faultline.Role // AddUser only; others decide it
}

// normalize trims the name and lower-cases the email.
func (a NewAccount) normalize() NewAccount {
	a.Name = strings.TrimSpace(a.Name)
	a.Email = strings.ToLower(strings.TrimSpace(a.Email))
	return a
}

// validate returns EINVALID saying what to fix.
func (a NewAccount) validate() error {
	if err := faultline.ValidateAccount(a.Name, a.Email); err != nil {
		return err
	}
	return faultline.ValidatePassword(a.Password, a.Confirm)
}

func (s *Service) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.d.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is a bcrypt hash to compare against when an account does not
// exist, so timing does not reveal which emails have accounts.
type dummyHash struct {
	once sync.Once
	h    []byte
}

func (s *Service) dummyCompare(password string) {
	s.dummy.once.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(RandomToken(16)), s.d.BcryptCost)
		if err != nil {
			panic(fmt.Sprintf("bcrypt dummy hash: %v", err))
		}
		s.dummy.h = h
	})
	_ = bcrypt.CompareHashAndPassword(s.dummy.h, []byte(password))
}

// setupOnce serialises creating the first admin.
type setupOnce struct{ mu sync.Mutex }

// SetupOpen returns nil while the portal has no account and token is the
// setup token; ENOTFOUND once setup is over (or disabled), EFORBIDDEN for a
// wrong token.
func (s *Service) SetupOpen(ctx context.Context, token string) error {
	done := faultline.Errorf(faultline.ENOTFOUND, "Setup is finished: this portal already has its administrator.")
	if s.d.SetupToken == "" {
		return done
	}
	n, err := s.d.Users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return done
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.d.SetupToken)) != 1 {
		return faultline.Errorf(faultline.EFORBIDDEN, "This setup link is not valid. Use the link the server printed when it started.")
	}
	return nil
}

// Setup creates the first administrator, once, with the setup token.
// Errors as SetupOpen, EINVALID for bad input.
func (s *Service) Setup(ctx context.Context, token string, a NewAccount) (*faultline.User, error) {
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	if err := s.SetupOpen(ctx, token); err != nil {
		return nil, err
	}
	a.Role = faultline.RoleAdmin
	u, err := s.createUser(ctx, a)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "first administrator created", "user", u.ID)
	return u, nil
}

// createUser validates a and creates the account: EINVALID, ECONFLICT for
// a taken email.
func (s *Service) createUser(ctx context.Context, a NewAccount) (*faultline.User, error) {
	a = a.normalize()
	if err := a.validate(); err != nil {
		return nil, err
	}
	if !a.Role.Valid() {
		return nil, faultline.Errorf(faultline.EINVALID, "The role must be admin, instructor or learner.")
	}
	hash, err := s.hashPassword(a.Password)
	if err != nil {
		return nil, err
	}
	u := &faultline.User{Email: a.Email, Name: a.Name, Role: a.Role, PasswordHash: hash}
	if err := s.d.Users.CreateUser(ctx, u); err != nil {
		if faultline.ErrorCode(err) == faultline.ECONFLICT {
			return nil, faultline.Errorf(faultline.ECONFLICT, "An account with the email %s exists already.", a.Email)
		}
		return nil, internal(err, "create user %q", a.Email)
	}
	return u, nil
}

// AddUser creates an account with any role: for admins (and the `user add`
// command, which passes a nil viewer as the machine's operator).
// ENOTFOUND for a viewer who is not an admin, EINVALID, ECONFLICT.
func (s *Service) AddUser(ctx context.Context, viewer *faultline.User, a NewAccount) (*faultline.User, error) {
	if viewer != nil && viewer.Role != faultline.RoleAdmin {
		return nil, errNoPage
	}
	return s.createUser(ctx, a)
}

// SignIn checks an email and password, throttled per email and client (the
// client's address), and returns the account. EUNAUTHORIZED for wrong
// credentials (the same message whether or not the account exists),
// ETOOMANY after five failures within five minutes.
func (s *Service) SignIn(ctx context.Context, email, password, client string) (*faultline.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	key := email + "|" + client
	if !s.logins.allowed(key) {
		return nil, faultline.RetryLater(5*time.Minute, "Too many failed sign-ins. Wait a few minutes and try again.")
	}
	wrong := faultline.Errorf(faultline.EUNAUTHORIZED, "The email or password is wrong.")
	u, err := s.d.Users.FindUserByEmail(ctx, email)
	switch {
	case faultline.ErrorCode(err) == faultline.ENOTFOUND || email == "":
		s.dummyCompare(password)
		s.logins.fail(key)
		return nil, wrong
	case err != nil:
		return nil, fmt.Errorf("find user %q: %w", email, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		s.logins.fail(key)
		return nil, wrong
	}
	s.logins.reset(key)
	return u, nil
}

// StartSession starts a sign-in session for u, ending the session of
// replacing (the cookie token the request came with, if any: rotation at
// sign-in), and returns the new cookie token and the session.
func (s *Service) StartSession(ctx context.Context, u *faultline.User, replacing string) (string, *faultline.Session, error) {
	if replacing != "" {
		if err := s.d.Sessions.DeleteSession(ctx, SessionID(replacing)); err != nil {
			return "", nil, fmt.Errorf("delete old session of user %d: %w", u.ID, err)
		}
	}
	token := RandomToken(32)
	now := s.now()
	sess := &faultline.Session{ID: SessionID(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := s.d.Sessions.CreateSession(ctx, sess); err != nil {
		return "", nil, fmt.Errorf("create session for user %d: %w", u.ID, err)
	}
	return token, sess, nil
}

// Authenticate returns the session and user of a cookie token; ENOTFOUND
// for a missing, unknown or expired session.
func (s *Service) Authenticate(ctx context.Context, token string) (*faultline.Session, *faultline.User, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "No session.")
	}
	sess, u, err := s.d.Sessions.FindSession(ctx, SessionID(token))
	if err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return nil, nil, fmt.Errorf("find session: %w", err)
	}
	return sess, u, err
}

// EndSession ends a session (signing out); ending a missing one is not an
// error.
func (s *Service) EndSession(ctx context.Context, sess *faultline.Session) error {
	if sess == nil {
		return nil
	}
	if err := s.d.Sessions.DeleteSession(ctx, sess.ID); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// ChangePassword sets a new password for viewer after checking their
// current one. EUNAUTHORIZED for a wrong current password (throttled like
// sign-ins), EINVALID for a new password that breaks the rule. Every other
// session of the viewer is ended; keep is the one to keep (the caller's).
func (s *Service) ChangePassword(ctx context.Context, viewer *faultline.User, keep *faultline.Session, current, password, confirm, client string) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	key := "password|" + viewer.Email + "|" + client
	if !s.logins.allowed(key) {
		return faultline.RetryLater(5*time.Minute, "Too many wrong passwords. Wait a few minutes and try again.")
	}
	u, err := s.d.Users.FindUserByID(ctx, viewer.ID)
	if err != nil {
		return fmt.Errorf("find user %d: %w", viewer.ID, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		s.logins.fail(key)
		return faultline.Errorf(faultline.EUNAUTHORIZED, "Your current password is wrong.")
	}
	s.logins.reset(key)
	if err := faultline.ValidatePassword(password, confirm); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	keepID := ""
	if keep != nil {
		keepID = keep.ID
	}
	if err := s.d.Users.SetPassword(ctx, viewer.ID, hash, keepID); err != nil {
		return internal(err, "set password of user %d", viewer.ID)
	}
	return nil
}

// InviteCohort returns the cohort of an invite code, for its sign-up page:
// ENOTFOUND for an unknown code, EFORBIDDEN for an expired one.
func (s *Service) InviteCohort(ctx context.Context, code string) (*faultline.Cohort, error) {
	c, err := s.d.Cohorts.FindCohortByInvite(ctx, code)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This invite link is not valid. Ask your instructor for a new one.")
	} else if err != nil {
		return nil, internal(err, "find cohort by invite")
	}
	return c, nil
}

// Join adds viewer to the cohort of an invite code as a learner (a member
// keeps their role), or, for a visitor, creates a learner account from a
// in that cohort and returns it. Errors as InviteCohort, EINVALID for bad
// input, ECONFLICT for a taken email.
func (s *Service) Join(ctx context.Context, viewer *faultline.User, code string, a NewAccount) (*faultline.Cohort, *faultline.User, error) {
	c, err := s.InviteCohort(ctx, code)
	if err != nil {
		return nil, nil, err
	}
	if viewer != nil {
		_, err := s.d.Cohorts.MemberRole(ctx, c.ID, viewer.ID)
		switch faultline.ErrorCode(err) {
		case "":
			return c, viewer, nil
		case faultline.ENOTFOUND:
			if err := s.d.Cohorts.AddMember(ctx, c.ID, viewer.ID, faultline.MemberLearner); err != nil {
				return nil, nil, fmt.Errorf("add user %d to cohort %d: %w", viewer.ID, c.ID, err)
			}
			return c, viewer, nil
		default:
			return nil, nil, fmt.Errorf("member role of user %d in cohort %d: %w", viewer.ID, c.ID, err)
		}
	}
	a = a.normalize()
	if err := a.validate(); err != nil {
		return nil, nil, err
	}
	hash, err := s.hashPassword(a.Password)
	if err != nil {
		return nil, nil, err
	}
	u := &faultline.User{Email: a.Email, Name: a.Name, Role: faultline.RoleLearner, PasswordHash: hash}
	if _, err := s.d.Cohorts.Join(ctx, code, u); err != nil {
		if faultline.ErrorCode(err) == faultline.ECONFLICT {
			return nil, nil, faultline.Errorf(faultline.ECONFLICT,
				"An account with this email exists already. Sign in, then open this invite link again to join.")
		}
		return nil, nil, internal(err, "join cohort %d as %q", c.ID, a.Email)
	}
	return c, u, nil
}

// ---- personal access tokens ----

// Tokens lists viewer's API tokens, newest first.
func (s *Service) Tokens(ctx context.Context, viewer *faultline.User) ([]*faultline.APIToken, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	ts, err := s.d.Tokens.ListTokens(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", viewer.ID, err)
	}
	return ts, nil
}

// CreateToken makes an API token for viewer that expires after days (0:
// never) and returns it with its secret, shown once. EINVALID for a bad
// name or expiry.
func (s *Service) CreateToken(ctx context.Context, viewer *faultline.User, name string, days int) (*faultline.APIToken, string, error) {
	if err := signedIn(viewer); err != nil {
		return nil, "", err
	}
	if days < 0 || days > 3650 {
		return nil, "", faultline.Errorf(faultline.EINVALID, "Expiry must be 1 to 3650 days, or empty for never.")
	}
	var expires time.Time
	if days > 0 {
		expires = s.now().Add(time.Duration(days) * 24 * time.Hour)
	}
	tok, secret, err := s.d.Tokens.CreateToken(ctx, viewer.ID, strings.TrimSpace(name), expires)
	if err != nil {
		return nil, "", internal(err, "create token for user %d", viewer.ID)
	}
	return tok, secret, nil
}

// RevokeToken revokes one of viewer's tokens; ENOTFOUND for anyone else's.
func (s *Service) RevokeToken(ctx context.Context, viewer *faultline.User, id int64) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	if err := s.d.Tokens.RevokeToken(ctx, viewer.ID, id); err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return faultline.Errorf(faultline.ENOTFOUND, "There is no such token.")
		}
		return fmt.Errorf("revoke token %d of user %d: %w", id, viewer.ID, err)
	}
	return nil
}

// AuthenticateToken returns the user of an API token's secret; EUNAUTHORIZED
// for an unknown, revoked or expired one.
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (*faultline.User, error) {
	_, u, err := s.d.Tokens.AuthenticateToken(ctx, secret)
	if err != nil {
		return nil, internal(err, "authenticate token")
	}
	return u, nil
}
