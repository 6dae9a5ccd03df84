package oauthserver

import (
	"html/template"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// authRequest is a validated authorization request, waiting for consent or
// bound to a code.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	challenge   string
	resource    string // the token audience
	scopes      []string
	user        string // whom the grant is for: login_hint, the consent form, or Options.Subject
}

// pkceChallenge is the shape of an S256 challenge: base64url of a SHA-256.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// handleAuthorize validates an authorization request. Until the client and
// redirect URI are trusted, errors are shown as a page, never redirected
// (RFC 6749 §4.1.2.1), so the server cannot be used as an open redirector.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, msg := s.trustedClient(q)
	if c == nil {
		errorPage(w, msg)
		return
	}
	req := authRequest{clientID: c.id, redirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	if code, desc := s.checkAuthRequest(q, &req); code != "" {
		s.redirectError(w, r, req, code, desc)
		return
	}
	if s.opts.AutoApprove {
		s.approve(w, r, req)
		return
	}
	s.askConsent(w, req)
}

// trustedClient finds the client and checks its redirect URI, the two
// things that must hold before any error may be redirected. On failure it
// returns a nil client and the message for the error page.
func (s *Server) trustedClient(q url.Values) (*client, string) {
	for k, v := range q {
		if len(v) > 1 {
			return nil, "parameter " + k + " is repeated"
		}
	}
	s.mu.Lock()
	c := s.clients[q.Get("client_id")]
	s.mu.Unlock()
	if c == nil {
		return nil, "unknown client_id"
	}
	if !s.redirectAllowed(c, q.Get("redirect_uri")) {
		return nil, "redirect_uri is not registered for this client"
	}
	return c, ""
}

// checkAuthRequest validates the rest of the request into req. Its errors
// go back to the now trusted redirect URI, so it returns an RFC 6749 error
// code and description, or an empty code when the request is acceptable.
func (s *Server) checkAuthRequest(q url.Values, req *authRequest) (code, desc string) {
	if q.Get("response_type") != "code" {
		return "unsupported_response_type", "only response_type=code is supported"
	}
	if q.Get("code_challenge_method") != "S256" || !pkceChallenge.MatchString(q.Get("code_challenge")) {
		return "invalid_request", "PKCE with code_challenge_method=S256 is required"
	}
	req.challenge = q.Get("code_challenge")
	req.scopes = splitScopes(q.Get("scope"))
	if len(req.scopes) == 0 {
		req.scopes = []string{s.opts.RequiredScope}
	}
	for _, sc := range req.scopes {
		if !slices.Contains(s.opts.Scopes, sc) {
			return "invalid_scope", "unknown scope " + sc
		}
	}
	switch res := q.Get("resource"); {
	case res == "" && s.opts.AllowMissingResource:
		req.resource = s.MCPURL()
	case res == "":
		// Without RFC 8707 the token is meant for the issuer itself, as with
		// real servers that need an explicit audience.
		req.resource = s.Issuer()
	case s.knownResource(res):
		req.resource = res
	default:
		return "invalid_target", "unknown resource"
	}
	// login_hint (OpenID Connect Core §3.1.2.1) names the user; in auto-approve mode it is
	// who logs in, on the consent page it fills the user field in.
	switch hint := q.Get("login_hint"); {
	case hint == "":
		req.user = s.opts.Subject
	case !validUser(hint):
		return "invalid_request", "login_hint is not a valid user name"
	default:
		req.user = hint
	}
	return "", ""
}

// maxUserLen bounds a user name, which ends up in every token's sub claim.
const maxUserLen = 256

// validUser reports whether name may be a user: non-empty, at most maxUserLen bytes of
// UTF-8, without control characters or surrounding spaces.
func validUser(name string) bool {
	if name == "" || len(name) > maxUserLen || !utf8.ValidString(name) || strings.TrimSpace(name) != name {
		return false
	}
	return !strings.ContainsFunc(name, unicode.IsControl)
}

// askConsent parks req under a one-time id and shows the consent page; the
// id, not the request, travels through the browser, so the user cannot
// alter what is approved.
func (s *Server) askConsent(w http.ResponseWriter, req authRequest) {
	s.mu.Lock()
	id := randomToken("consent")
	s.consents[id] = &req
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{
		"Client": req.clientID, "Scopes": joinScopes(req.scopes), "Resource": req.resource, "ID": id,
		"User": req.user,
	})
}

// handleConsent receives the consent page's Approve or Deny, and the user name: an absent
// or blank user field keeps the one the page was filled in with.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errorPage(w, "malformed form")
		return
	}
	id := r.PostForm.Get("consent_id")
	s.mu.Lock()
	req := s.consents[id]
	delete(s.consents, id) // single use, like the code it may become
	s.mu.Unlock()
	if req == nil {
		errorPage(w, "unknown or already answered consent request")
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		s.mu.Lock()
		s.stats.Denials++
		s.mu.Unlock()
		s.redirectError(w, r, *req, "access_denied", "the user denied the request")
		return
	}
	if user := strings.TrimSpace(r.PostForm.Get("user")); user != "" {
		if !validUser(user) {
			errorPage(w, "invalid user name")
			return
		}
		req.user = user
	}
	s.approve(w, r, *req)
}

// approve issues a code and sends the browser back to the client.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, req authRequest) {
	s.mu.Lock()
	code := s.newSecretLocked("code")
	s.codes[code] = &authCode{req: req, expires: s.now().Add(codeTTL)}
	s.stats.Authorizations++
	s.stats.user(req.user, func(u *UserStats) { u.Authorizations++ })
	iss := s.issuerLocked()
	s.mu.Unlock()
	s.opts.Logger.Info("Approved authorization", "clientID", req.clientID, "user", req.user, "scopes", joinScopes(req.scopes))
	s.redirectBack(w, r, req, url.Values{"code": {code}, "iss": {iss}})
}

// redirectError sends an RFC 6749 error back to a trusted redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req authRequest, code, desc string) {
	s.redirectBack(w, r, req, url.Values{"error": {code}, "error_description": {desc}, "iss": {s.Issuer()}})
}

// redirectBack appends params, state, to the redirect URI (RFC 9207 adds
// iss so a client can tell which server answered).
func (s *Server) redirectBack(w http.ResponseWriter, r *http.Request, req authRequest, params url.Values) {
	u, _ := url.Parse(req.redirectURI) // validated by redirectAllowed
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// redirectAllowed matches exactly, except that a loopback redirect may use
// any port (RFC 8252 §7.3), since native clients listen on ephemeral ports.
// Pre-registered clients may use any loopback redirect.
func (s *Server) redirectAllowed(c *client, redirect string) bool {
	u, err := url.Parse(redirect)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" {
		return false
	}
	allowed := c.redirectURIs
	if c.preregistered {
		allowed = append(slices.Clone(allowed), s.opts.RedirectURIs...)
		if isLoopback(u) {
			return true
		}
	}
	for _, a := range allowed {
		if a == redirect {
			return true
		}
		au, err := url.Parse(a)
		if err == nil && isLoopback(u) && isLoopback(au) && au.Hostname() == u.Hostname() &&
			au.Path == u.Path && au.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

// isLoopback reports whether u is an http URL on a loopback host.
func isLoopback(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// errorPage tells the user, not the client, what went wrong.
func errorPage(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorTmpl.Execute(w, msg)
}

var errorTmpl = template.Must(template.New("error").Parse(
	`<!doctype html><title>Authorization error</title><h1>Authorization error</h1><p class="error">{{.}}</p>`))

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><title>Authorize {{.Client}}</title></head><body>
<h1>Authorize {{.Client}}?</h1>
<p>The application <b>{{.Client}}</b> asks for scopes <code>{{.Scopes}}</code> on <code>{{.Resource}}</code>.</p>
<form method="post">
<input type="hidden" name="consent_id" value="{{.ID}}">
<p><label>Log in as <input type="text" name="user" value="{{.User}}" maxlength="256" required></label></p>
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>
`))
