package oauthserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// tokenVerdict classifies a presented access token, for the challenge and
// the counters.
type tokenVerdict int

const (
	tokenValid tokenVerdict = iota
	tokenInvalid
	tokenExpired
	tokenWrongAudience
)

// checkAccessToken verifies signature, issuer, expiry (on the injected
// clock), audience and revocation, in that order.
func (s *Server) checkAccessToken(tok, res string) (accessClaims, tokenVerdict) {
	c, err := s.signer.verify(tok)
	if err != nil {
		return c, tokenInvalid
	}
	if c.Issuer != s.Issuer() {
		return c, tokenInvalid
	}
	if s.now().Unix() >= c.Expiry {
		return c, tokenExpired
	}
	if !s.audienceOK(c.Audience, res) {
		return c, tokenWrongAudience
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gid, ok := s.access[c.ID]
	if g := s.grants[gid]; !ok || g == nil || g.revoked {
		return c, tokenInvalid
	}
	return c, tokenValid
}

// protect puts the outage switch and bearer authentication in front of the
// MCP handler for resource path res.
func (s *Server) protect(res string, next http.Handler) http.Handler {
	authed := sdkAuth(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.serveOutage(w) {
			return
		}
		tok, ok := bearerToken(r)
		if s.opts.NoAuth || (!ok && s.opts.OpenInitialize && opensSession(w, r)) {
			ctx := context.WithValue(r.Context(), identityKey{}, identity{Subject: "anonymous"})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if !ok {
			s.count(func(st *Stats) { st.MCPNoToken++ })
			// RFC 6750 §3.1: no error code when no credentials were sent.
			s.challenge(w, res, http.StatusUnauthorized, "", s.opts.RequiredScope)
			return
		}
		claims, verdict := s.checkAccessToken(tok, res)
		if s.refuseToken(w, res, verdict) {
			return
		}
		scopes := splitScopes(claims.Scope)
		if !slices.Contains(scopes, s.opts.RequiredScope) {
			s.count(func(st *Stats) { st.MCPInsufficientScope++ })
			s.challenge(w, res, http.StatusForbidden, "insufficient_scope", s.opts.RequiredScope)
			return
		}
		if r.Method == http.MethodPost && !slices.Contains(scopes, s.opts.WhoamiScope) {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
			if err != nil {
				http.Error(w, "reading body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if callsTool(body, "whoami") {
				s.count(func(st *Stats) { st.MCPInsufficientScope++ })
				// Step-up: name every scope the call needs, not only the
				// missing one, so the client can ask for exactly this set.
				s.challenge(w, res, http.StatusForbidden, "insufficient_scope",
					s.opts.RequiredScope+" "+s.opts.WhoamiScope)
				return
			}
		}
		s.count(func(st *Stats) {
			st.MCPValidToken++
			st.user(claims.Subject, func(u *UserStats) { u.MCPValidToken++ })
		})
		id := identity{Subject: claims.Subject, ClientID: claims.ClientID, Scopes: scopes}
		authed.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// refuseToken answers a token that is not valid with a challenge, counting why; it reports
// whether it answered.
func (s *Server) refuseToken(w http.ResponseWriter, res string, verdict tokenVerdict) bool {
	switch verdict {
	case tokenExpired:
		s.count(func(st *Stats) { st.MCPExpiredToken++ })
	case tokenWrongAudience:
		s.count(func(st *Stats) { st.MCPWrongAudience++ })
	case tokenInvalid:
		s.count(func(st *Stats) { st.MCPInvalidToken++ })
	default:
		return false
	}
	s.challenge(w, res, http.StatusUnauthorized, "invalid_token", s.opts.RequiredScope)
	return true
}

// count updates the counters under the lock.
func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// challenge answers 401 or 403 with an RFC 6750 / RFC 9728 Bearer challenge.
func (s *Server) challenge(w http.ResponseWriter, res string, status int, errCode, scope string) {
	var params []string
	if errCode != "" {
		params = append(params, fmt.Sprintf("error=%q", errCode))
	}
	if rm := s.resourceMetadataParam(res); rm != "" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", rm))
	}
	params = append(params, fmt.Sprintf("scope=%q", scope))
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	http.Error(w, http.StatusText(status), status)
}

// bearerToken extracts the RFC 6750 §2.1 header credential; query and
// form tokens are deliberately not accepted.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// rpcCall is the part of a JSON-RPC message that says which tool is called.
type rpcCall struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// callsTool reports whether a JSON-RPC message or batch calls tool name.
func callsTool(body []byte, name string) bool {
	var one rpcCall
	if json.Unmarshal(body, &one) == nil {
		return one.Method == "tools/call" && one.Params.Name == name
	}
	var batch []rpcCall
	if json.Unmarshal(body, &batch) == nil {
		for _, c := range batch {
			if c.Method == "tools/call" && c.Params.Name == name {
				return true
			}
		}
	}
	return false
}

// opensSession reports whether r only opens an MCP session (initialize, or the initialized
// notification that follows it), leaving r's body readable again.
func opensSession(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	var one rpcCall
	if json.Unmarshal(body, &one) != nil {
		return false
	}
	return one.Method == "initialize" || one.Method == "notifications/initialized"
}
