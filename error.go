package faultline

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each maps to one HTTP status in web; anything else is EINTERNAL.
const (
	ECONFLICT     = "conflict"     // the thing exists already, or changed under us
	EINTERNAL     = "internal"     // a bug or an outage; never shown to users
	EINVALID      = "invalid"      // bad input; the message says what to fix
	ENOTFOUND     = "not_found"    // no such thing, or not yours to see
	EUNAUTHORIZED = "unauthorized" // not signed in, or bad credentials
	EFORBIDDEN    = "forbidden"    // signed in, but not allowed
	EUNAVAILABLE  = "unavailable"  // a dependency (Docker) is down; try later
	ETOOMANY      = "too_many"     // rate or concurrency limit; try later
	ETOOLARGE     = "too_large"    // a body, file or archive over its cap
)

// Error is an application error with a code and a message that is safe to show
// to the user. Anything that is not an *Error is an internal error: it is logged
// and the user sees a generic message.
type Error struct {
	Code    string
	Message string
	// After, for ETOOMANY and EUNAVAILABLE, is when trying again makes
	// sense (0: unknown). web sends it as Retry-After.
	After time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("faultline error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted, user-safe message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// RetryLater returns an ETOOMANY *Error whose After says when to try again.
func RetryLater(after time.Duration, format string, args ...any) *Error {
	return &Error{Code: ETOOMANY, Message: fmt.Sprintf(format, args...), After: after}
}

// RetryAfter returns e.After.
func (e *Error) RetryAfter() time.Duration { return e.After }

// ErrorRetryAfter returns how long to wait before trying again, from the
// first error in err's chain with a RetryAfter method (an *Error, or the
// sandbox's start gate); ok is false when it says nothing.
func ErrorRetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's chain,
// or a generic message for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
