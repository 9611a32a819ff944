package confluence

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrInvalidConfig: the configuration is unusable (needs a human).
	ErrInvalidConfig = errors.New("invalid Confluence configuration")
	// ErrWrongDeployment: the URL or the server does not match the configured deployment.
	ErrWrongDeployment = errors.New("wrong Confluence deployment")
	// ErrCredentialsRejected: Confluence rejected the credentials (401).
	ErrCredentialsRejected = errors.New("credentials rejected")
	// ErrAnonymous: the server ran the requests as the anonymous user, i.e.
	// the credentials were silently ignored (CONFSERVER-98199).
	ErrAnonymous = errors.New("authenticated as anonymous")
	// ErrForbidden: the crawl identity may not read the resource (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the resource does not exist or is invisible (404).
	ErrNotFound = errors.New("not found")
	// ErrRefreshTokenRejected: the OAuth2 refresh token was refused; the app
	// must be re-authorised.
	ErrRefreshTokenRejected = errors.New("OAuth2 refresh token rejected")
	// ErrTokenPersist: a rotated refresh token could not be stored; the
	// client stopped so that no further token is lost.
	ErrTokenPersist = errors.New("persisting rotated OAuth2 tokens failed")
	// ErrContentUnreadable: Confluence does not show the item itself, so its
	// restriction cannot be read: 404 (trashed, outdated or deleted:
	// CONFCLOUD-76424, CONFCLOUD-77618) or 403 naming the draft permission
	// (someone else's draft). A reader is not shown such an item either,
	// and what Confluence shows below it does not depend on it.
	ErrContentUnreadable = errors.New("content unreadable")
	// ErrSpacePermissionsUnreadable: Confluence Data Center refused to list a
	// space's permissions to the crawl identity (see SpacePermissionsError).
	ErrSpacePermissionsUnreadable = errors.New("space permissions unreadable")
	// ErrRetryBudgetExceeded: retries of a failing request ran out of time or attempts.
	ErrRetryBudgetExceeded = errors.New("retry budget exceeded")
)

// ErrDataCenterOAuth2: Data Center documents that OAuth 2.0 apps cannot
// read space permissions ("Forge and OAuth2 apps cannot access this REST
// resource", DC REST reference v10.1) nor the group resources (v9.2.3+), so a
// crawl could not compute who may read anything; its token endpoint also
// checks redirect_uri on every refresh. It matches ErrInvalidConfig.
var ErrDataCenterOAuth2 = fmt.Errorf("%w: auth type OAuth2 cannot work on Data Center: OAuth 2.0 apps may not read space permissions or groups there; use PersonalAccessToken (or Basic) for a user with the Confluence Administrator global permission", ErrInvalidConfig)

// AuthError reports rejected credentials (HTTP 401). It names the user and the
// URL, never the secret.
type AuthError struct {
	User string
	URL  string
}

func (e *AuthError) Error() string {
	who := e.User
	if who == "" {
		who = "the configured token"
	}
	return fmt.Sprintf("credentials rejected for %s at %s", who, e.URL)
}

// Is makes errors.Is(err, ErrCredentialsRejected) true.
func (e *AuthError) Is(target error) bool { return target == ErrCredentialsRejected }

// ForbiddenError reports HTTP 403 on a resource, e.g. a space the crawl
// identity may not read; the crawler may skip it and report.
type ForbiddenError struct {
	// SpaceKey is set when the resource belongs to a known space.
	SpaceKey string
	URL      string
	// Body is a short, redacted excerpt of the response body.
	Body string
}

func (e *ForbiddenError) Error() string {
	if e.SpaceKey != "" {
		return fmt.Sprintf("access to space %s forbidden (403) at %s", e.SpaceKey, e.URL)
	}
	return fmt.Sprintf("access forbidden (403) at %s", e.URL)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// HTTPError is any other unexpected HTTP status.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	// Body is a short, redacted excerpt of the response body.
	Body string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Is maps 404 to ErrNotFound and 403 to ErrForbidden.
func (e *HTTPError) Is(target error) bool {
	return (target == ErrNotFound && e.StatusCode == 404) || (target == ErrForbidden && e.StatusCode == 403)
}

// RetryError reports a request that failed after retries ran out.
type RetryError struct {
	Attempts int
	Last     error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v after %d attempts: %v", ErrRetryBudgetExceeded, e.Attempts, e.Last)
}

// Unwrap exposes both ErrRetryBudgetExceeded and the last failure.
func (e *RetryError) Unwrap() []error { return []error{ErrRetryBudgetExceeded, e.Last} }

// draftForbidden is the body of Cloud's 403 for a draft the caller does not
// own (as recorded by Onyx's CONFCLOUD-77618 regression tests).
const draftForbidden = "confluence.user.view.draft.permission"

// unreadable marks the errors that mean "Confluence does not show this item":
// 404, and 403 naming the draft permission. Other errors pass unchanged.
func unreadable(err error) error {
	var fe *ForbiddenError
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", ErrContentUnreadable, err)
	case errors.As(err, &fe) && strings.Contains(fe.Body, draftForbidden):
		return fmt.Errorf("%w (draft): %w", ErrContentUnreadable, err)
	}
	return err
}

// SpacePermissionsError reports that Data Center answered HTTP 500 to the
// space permission resource, which it does for callers without admin rights
// (CONFSERVER-99908). The space is skipped (nothing in it is deleted).
type SpacePermissionsError struct {
	SpaceKey string
	URL      string
}

func (e *SpacePermissionsError) Error() string {
	return fmt.Sprintf("Confluence answered HTTP 500 at %s, as Data Center does when the caller lacks admin rights (CONFSERVER-99908); "+
		"the crawl user needs the Confluence Administrator global permission (or the Admin permission of space %s) to read who may view it", e.URL, e.SpaceKey)
}

// Is makes errors.Is(err, ErrSpacePermissionsUnreadable) true.
func (e *SpacePermissionsError) Is(target error) bool { return target == ErrSpacePermissionsUnreadable }
