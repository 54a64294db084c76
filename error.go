package faultline

import (
	"errors"
	"fmt"
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
}

func (e *Error) Error() string {
	return fmt.Sprintf("faultline error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted, user-safe message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
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
