package oauthserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// ErrNoRedirect is returned by FollowAuthorize when the server answered
// with a page instead of a redirect, e.g. for an unknown client.
var ErrNoRedirect = errors.New("authorization server did not redirect")

var consentIDField = regexp.MustCompile(`name="consent_id" value="([^"]+)"`)

// FollowAuthorize plays the user's browser for authURL: it GETs it without
// following the redirect and, if a consent page comes back, presses
// Approve. It returns the redirect back to the client (carrying code,
// state and iss, or error), without calling it, so tests of other packages
// can finish a login headlessly and deliver the redirect themselves.
//
// The user logged in is the one authURL's login_hint names, else
// Options.Subject; FollowAuthorizeAs picks another.
func (s *Server) FollowAuthorize(authURL string) (*url.URL, error) {
	return s.answerAuthorize(authURL, "approve", "")
}

// FollowAuthorizeAs is FollowAuthorize logging in as user, whatever the
// client asked for: it sets login_hint in authURL (for auto-approve mode)
// and fills the consent page's user field in. An empty user is
// FollowAuthorize.
func (s *Server) FollowAuthorizeAs(authURL, user string) (*url.URL, error) {
	if user == "" {
		return s.FollowAuthorize(authURL)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("parsing authorization URL: %w", err)
	}
	q := u.Query()
	q.Set("login_hint", user)
	u.RawQuery = q.Encode()
	return s.answerAuthorize(u.String(), "approve", user)
}

// DenyAuthorize is FollowAuthorize pressing Deny on the consent page; in
// auto-approve mode there is no page and it approves like FollowAuthorize.
func (s *Server) DenyAuthorize(authURL string) (*url.URL, error) {
	return s.answerAuthorize(authURL, "deny", "")
}

// answerAuthorize submits decision on the consent page, with user in its
// user field unless empty (the page's own value then stands).
func (s *Server) answerAuthorize(authURL, decision, user string) (*url.URL, error) {
	hc := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second, // a test should fail, not hang
	}
	resp, err := hc.Get(authURL)
	if err != nil {
		return nil, fmt.Errorf("requesting authorization: %w", err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading authorization answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		m := consentIDField.FindSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("%w: no consent form in the page", ErrNoRedirect)
		}
		form := url.Values{"consent_id": {string(m[1])}, "decision": {decision}}
		if user != "" {
			form.Set("user", user)
		}
		resp, err = hc.PostForm(authURL, form)
		if err != nil {
			return nil, fmt.Errorf("submitting consent: %w", err)
		}
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("%w: status %d", ErrNoRedirect, resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("reading redirect: %w", err)
	}
	return loc, nil
}
