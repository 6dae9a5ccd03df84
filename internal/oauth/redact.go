package oauth

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret removed by Redact.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest registered value that is redacted; shorter values would
// erase ordinary words from log lines.
const minSecretLen = 4

// maxSecrets is a safety bound on the values a Redactor remembers (the oldest are forgotten
// first past it). It is not the working size: the set follows what is live, because the owner
// of a token forgets the values it replaces (Forget), so thousands of servers never push a live
// secret out.
const maxSecrets = 1 << 20

var (
	// secretParam matches secret-looking query or form parameters: code=..., access_token=...
	secretParam = regexp.MustCompile(`(?i)\b(code|access_token|refresh_token|client_secret|code_verifier|id_token|token|client_assertion|password|api_key|apikey|api-key|x-api-key)=[^&\s"'<>;,]*`)
	// secretJSON matches secret-looking JSON members: "access_token": "..."
	secretJSON = regexp.MustCompile(`(?i)"(code|access_token|refresh_token|client_secret|code_verifier|id_token|token|registration_access_token|api_key|apikey|password|client_assertion)"(\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// authHeader matches an Authorization header and its credentials.
	authHeader = regexp.MustCompile(`(?i)\b(authorization["']?\s*[:=]\s*["']?)[^"'\r\n,;&]*`)
	// apiKeyHeader matches an API-key header and its value: "X-Api-Key: abc".
	apiKeyHeader = regexp.MustCompile(`(?i)\b(x-api-key|api-key|apikey|x-auth-token|private-token)(["']?\s*[:=]\s*["']?)[^"'\s\r\n,;&]*`)
	// credScheme matches credentials after an HTTP auth scheme: "Bearer abc".
	credScheme = regexp.MustCompile(`(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9\-._~+/]+=*`)
)

// Redactor removes secrets from text: registered values plus anything that looks like a
// token, code, verifier, client secret or Authorization header. It is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	order   []string
	secrets map[string]struct{}
	// odd holds the registered values that are not token-shaped (spaces, punctuation); only
	// they go through the replacer, so adding a token (every refresh) never rebuilds it.
	odd      map[string]struct{}
	replacer *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor {
	return &Redactor{secrets: map[string]struct{}{}, odd: map[string]struct{}{}}
}

// Add registers secret values (tokens, codes, verifiers, client secrets) to be removed
// wherever they appear. Values shorter than 4 bytes are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		for _, form := range []string{v, url.QueryEscape(v)} {
			if len(form) < minSecretLen {
				continue
			}
			if _, ok := r.secrets[form]; ok {
				continue
			}
			r.secrets[form] = struct{}{}
			r.order = append(r.order, form)
			if !tokenShaped(form) {
				r.odd[form] = struct{}{}
				changed = true
			}
		}
	}
	for len(r.secrets) > maxSecrets && len(r.order) > 0 {
		if _, ok := r.odd[r.order[0]]; ok {
			delete(r.odd, r.order[0])
			changed = true
		}
		delete(r.secrets, r.order[0])
		r.order = r.order[1:]
	}
	if changed {
		r.replacer = nil
	}
}

// Forget drops values that no longer need hiding (a token that was replaced), so the set
// follows what is live instead of growing with every refresh.
func (r *Redactor) Forget(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		for _, form := range []string{v, url.QueryEscape(v)} {
			if _, ok := r.secrets[form]; !ok {
				continue
			}
			delete(r.secrets, form)
			if _, ok := r.odd[form]; ok {
				delete(r.odd, form)
				r.replacer = nil
			}
		}
	}
	if len(r.order) > 2*len(r.secrets)+64 { // drop forgotten values from the eviction order
		kept := r.order[:0]
		for _, v := range r.order {
			if _, ok := r.secrets[v]; ok {
				kept = append(kept, v)
			}
		}
		r.order = kept
	}
}

// Len is how many values are registered (raw and URL-escaped forms count apart).
func (r *Redactor) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.secrets)
}

// Redact returns s with registered values and secret-looking fragments replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	s = r.replaceTokens(s)
	if rep := r.currentReplacer(); rep != nil {
		s = rep.Replace(s)
	}
	s = secretJSON.ReplaceAllString(s, `"$1"$2"`+Redacted+`"`)
	s = secretParam.ReplaceAllString(s, "$1="+Redacted)
	s = authHeader.ReplaceAllString(s, "${1}"+Redacted)
	s = apiKeyHeader.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = credScheme.ReplaceAllString(s, "$1 "+Redacted)
	return s
}

// currentReplacer returns the replacer for registered values, building it when stale.
func (r *Redactor) currentReplacer() *strings.Replacer {
	r.mu.RLock()
	rep, n := r.replacer, len(r.odd)
	r.mu.RUnlock()
	if rep != nil || n == 0 {
		return rep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replacer == nil && len(r.odd) > 0 {
		vals := make([]string, 0, len(r.odd))
		for v := range r.odd {
			vals = append(vals, v)
		}
		// Longest first so a secret containing another is replaced whole.
		sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Redacted)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
	return r.replacer
}

// defaultRedactor is used by Redact and by every log line and error of this package.
var defaultRedactor = NewRedactor()

// Redact removes secrets from s using the package's shared Redactor. Every secret this
// package handles (tokens, codes, verifiers, client secrets) is registered with it.
func Redact(s string) string { return defaultRedactor.Redact(s) }

// RegisterSecret adds values to the shared Redactor, e.g. tokens loaded from storage.
func RegisterSecret(values ...string) { defaultRedactor.Add(values...) }

// ForgetSecret drops values from the shared Redactor once nothing holds them any more.
func ForgetSecret(values ...string) { defaultRedactor.Forget(values...) }

// tokenChar reports whether c can be part of a token, code or verifier as they appear in text
// (base64url, base64, JWT dots, URL escapes).
func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' || c == '%'
}

func isPartSep(r rune) bool { return r == '=' || r == '/' }

func tokenShaped(v string) bool {
	for i := 0; i < len(v); i++ {
		if !tokenChar(v[i]) {
			return false
		}
	}
	return true
}

// replaceTokens replaces every run of token characters that is a registered value, and every
// '='-separated part of such a run (query parameters), with Redacted. It costs one map lookup
// per run, however many values are registered.
func (r *Redactor) replaceTokens(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.secrets) == len(r.odd) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !tokenChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && tokenChar(s[j]) {
			j++
		}
		// A sentence may end right after a token: its full stop is not part of it.
		for j > i+1 && s[j-1] == '.' {
			if _, ok := r.secrets[s[i:j]]; ok {
				break
			}
			j--
		}
		run := s[i:j]
		if _, ok := r.secrets[run]; ok {
			b.WriteString(s[last:i])
			b.WriteString(Redacted)
			last = j
		} else if strings.ContainsAny(run, "=/") {
			// Query parameters and URL paths: look at each part between '=' and '/'.
			for k := i; k < j; {
				for k < j && isPartSep(rune(s[k])) {
					k++
				}
				e := k
				for e < j && !isPartSep(rune(s[e])) {
					e++
				}
				if _, ok := r.secrets[s[k:e]]; ok && e > k {
					b.WriteString(s[last:k])
					b.WriteString(Redacted)
					last = e
				}
				k = e
			}
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
