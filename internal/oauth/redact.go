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

// maxSecrets bounds the values a Redactor remembers; the oldest are forgotten first.
// A long-running controller registers every token it sees, so the set must not grow forever.
const maxSecrets = 4096

var (
	// secretParam matches secret-looking query or form parameters: code=..., access_token=...
	secretParam = regexp.MustCompile(`(?i)\b(code|access_token|refresh_token|client_secret|code_verifier|id_token|token|client_assertion|password)=[^&\s"'<>;,]*`)
	// secretJSON matches secret-looking JSON members: "access_token": "..."
	secretJSON = regexp.MustCompile(`(?i)"(code|access_token|refresh_token|client_secret|code_verifier|id_token|token|registration_access_token)"(\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// authHeader matches an Authorization header and its credentials.
	authHeader = regexp.MustCompile(`(?i)\b(authorization["']?\s*[:=]\s*["']?)[^"'\r\n,;&]*`)
	// credScheme matches credentials after an HTTP auth scheme: "Bearer abc".
	credScheme = regexp.MustCompile(`(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9\-._~+/]+=*`)
)

// Redactor removes secrets from text: registered values plus anything that looks like a
// token, code, verifier, client secret or Authorization header. It is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	order    []string
	secrets  map[string]struct{}
	replacer *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor {
	return &Redactor{secrets: map[string]struct{}{}}
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
			changed = true
		}
	}
	for len(r.order) > maxSecrets {
		delete(r.secrets, r.order[0])
		r.order = r.order[1:]
	}
	if changed {
		r.replacer = nil
	}
}

// Redact returns s with registered values and secret-looking fragments replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	if rep := r.currentReplacer(); rep != nil {
		s = rep.Replace(s)
	}
	s = secretJSON.ReplaceAllString(s, `"$1"$2"`+Redacted+`"`)
	s = secretParam.ReplaceAllString(s, "$1="+Redacted)
	s = authHeader.ReplaceAllString(s, "${1}"+Redacted)
	s = credScheme.ReplaceAllString(s, "$1 "+Redacted)
	return s
}

// currentReplacer returns the replacer for registered values, building it when stale.
func (r *Redactor) currentReplacer() *strings.Replacer {
	r.mu.RLock()
	rep, n := r.replacer, len(r.order)
	r.mu.RUnlock()
	if rep != nil || n == 0 {
		return rep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replacer == nil && len(r.order) > 0 {
		vals := append([]string(nil), r.order...)
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
