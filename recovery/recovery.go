// Package recovery lets people who forgot their password choose a new one
// through a link sent by email: the use case behind /password/forgot and
// /password/reset. The link's token is stored hashed, works once for an
// hour, and using it ends the account's other sessions.
package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
)

// TTL is how long a reset link works.
const TTL = time.Hour

// Service implements faultline.PasswordRecovery.
type Service struct {
	Users    faultline.UserService
	Resets   faultline.PasswordResetService
	Notifier faultline.Notifier
	BaseURL  string
	// BcryptCost is the work factor of new hashes (0: bcrypt's default).
	BcryptCost int
	Now        func() time.Time
	Logger     *slog.Logger

	mu    sync.Mutex
	byIP  map[string][]time.Time
	byTo  map[string][]time.Time
	sweep time.Time
}

var _ faultline.PasswordRecovery = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Limits on requests: per client address and per email address.
const (
	perClient = 10 // in 15 minutes
	perEmail  = 3  // in an hour
)

// allow counts a request against both limits; false when either is spent.
func (s *Service) allow(client, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.byIP == nil {
		s.byIP, s.byTo = map[string][]time.Time{}, map[string][]time.Time{}
	}
	if now.Sub(s.sweep) > time.Hour {
		for k, v := range s.byIP {
			if len(recent(v, now, 15*time.Minute)) == 0 {
				delete(s.byIP, k)
			}
		}
		for k, v := range s.byTo {
			if len(recent(v, now, time.Hour)) == 0 {
				delete(s.byTo, k)
			}
		}
		s.sweep = now
	}
	ip, to := recent(s.byIP[client], now, 15*time.Minute), recent(s.byTo[email], now, time.Hour)
	if len(ip) >= perClient || len(to) >= perEmail {
		return false
	}
	s.byIP[client], s.byTo[email] = append(ip, now), append(to, now)
	return true
}

func recent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < window {
			out = append(out, t)
		}
	}
	return out
}

// Enabled reports whether resets can be sent (an email notifier is set).
func (s *Service) Enabled() bool { return s != nil && s.Notifier != nil && s.Resets != nil }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Request emails a reset link when an account has the address and returns
// nil either way, so the answer does not tell who has an account.
// EINVALID for a malformed address, ETOOMANY past the request limits.
func (s *Service) Request(ctx context.Context, email, client string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if err := faultline.ValidateAccount("-", email); err != nil { // the email rule of every account
		return err
	}
	if !s.allow(client, email) {
		return faultline.RetryLater(15*time.Minute, "Too many reset requests. Wait a while and try again.")
	}
	u, err := s.Users.FindUserByEmail(ctx, email)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil
	} else if err != nil {
		return fmt.Errorf("find user for password reset: %w", err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := s.now().Add(TTL)
	if err := s.Resets.CreatePasswordReset(ctx, u.ID, hashToken(token), expires); err != nil {
		return fmt.Errorf("password reset for user %d: %w", u.ID, err)
	}
	err = s.Notifier.Notify(ctx, faultline.PasswordResetNotice{
		To:   faultline.Recipient{UserID: u.ID, Email: u.Email, Name: u.Name},
		Link: strings.TrimRight(s.BaseURL, "/") + "/password/reset?token=" + url.QueryEscape(token), Expires: expires,
	})
	if err != nil {
		return fmt.Errorf("password reset mail for user %d: %w", u.ID, err)
	}
	s.log().InfoContext(ctx, "password reset requested", "user", u.ID)
	return nil
}

var errLink = faultline.Errorf(faultline.ENOTFOUND, "This reset link is not valid any more. Ask for a new one.")

// Check returns the account a live link belongs to; ENOTFOUND otherwise.
func (s *Service) Check(ctx context.Context, token string) (*faultline.User, error) {
	if token == "" || len(token) > 100 {
		return nil, errLink
	}
	u, err := s.Resets.FindPasswordReset(ctx, hashToken(token))
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errLink
	} else if err != nil {
		return nil, fmt.Errorf("find password reset: %w", err)
	}
	return u, nil
}

// Reset sets the new password through a live link, once: EINVALID for a
// password that breaks the rule (the link stays good), ENOTFOUND for a
// link that is not live.
func (s *Service) Reset(ctx context.Context, token, password, confirm string) (*faultline.User, error) {
	if _, err := s.Check(ctx, token); err != nil {
		return nil, err
	}
	if err := faultline.ValidatePassword(password, confirm); err != nil {
		return nil, err
	}
	cost := s.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u, err := s.Resets.ResetPassword(ctx, hashToken(token), string(h))
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errLink
	} else if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	s.log().InfoContext(ctx, "password reset", "user", u.ID)
	return u, nil
}
