package web

import (
	"context"

	"github.com/faultline-dev/faultline"
)

// ctxKey is the unexported type of this package's context keys.
type ctxKey int

const authKey ctxKey = iota

// auth is who made the request: the user and their session.
type auth struct {
	user    *faultline.User
	session *faultline.Session
}

// newContextWithAuth returns a copy of ctx that carries the signed-in user and
// session.
func newContextWithAuth(ctx context.Context, u *faultline.User, sess *faultline.Session) context.Context {
	return context.WithValue(ctx, authKey, &auth{user: u, session: sess})
}

// UserFromContext returns the signed-in user of a request context, or nil for
// a visitor.
func UserFromContext(ctx context.Context) *faultline.User {
	if a, ok := ctx.Value(authKey).(*auth); ok {
		return a.user
	}
	return nil
}

// sessionFromContext returns the request's session, or nil.
func sessionFromContext(ctx context.Context) *faultline.Session {
	if a, ok := ctx.Value(authKey).(*auth); ok {
		return a.session
	}
	return nil
}

const requestUserKey ctxKey = iota + 1

// requestUser lets authenticate tell the request logger who the user was.
type requestUser struct{ id int64 }

func withRequestUser(ctx context.Context, ru *requestUser) context.Context {
	return context.WithValue(ctx, requestUserKey, ru)
}

func requestUserFrom(ctx context.Context) *requestUser {
	ru, _ := ctx.Value(requestUserKey).(*requestUser)
	return ru
}
