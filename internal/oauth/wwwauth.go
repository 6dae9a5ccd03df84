package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Challenge is one authentication challenge of a WWW-Authenticate header (RFC 9110 §11.6.1).
type Challenge struct {
	// Scheme is the auth-scheme as sent, e.g. "Bearer"; compare it case-insensitively.
	Scheme string
	// Params holds the auth-params with lower-cased names and unquoted values.
	Params map[string]string
	// Token68 is the token68 form of credentials, when the challenge uses it instead of params.
	Token68 string
}

// ErrMalformedChallenge reports a WWW-Authenticate value that does not follow RFC 9110.
var ErrMalformedChallenge = errors.New("oauth: malformed WWW-Authenticate header")

// Param returns the named auth-param (case-insensitive name).
func (c Challenge) Param(name string) string { return c.Params[strings.ToLower(name)] }

// Scopes returns the space-separated "scope" parameter as a list.
func (c Challenge) Scopes() []string { return strings.Fields(c.Param("scope")) }

// String formats the challenge so that ParseWWWAuthenticate reads it back unchanged.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteString(" ")
		b.WriteString(c.Token68)
		return b.String()
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		v := strings.ReplaceAll(c.Params[k], `\`, `\\`)
		b.WriteString(strings.ReplaceAll(v, `"`, `\"`))
		b.WriteString(`"`)
	}
	return b.String()
}

// ParseWWWAuthenticate parses one WWW-Authenticate field value into its challenges:
// several schemes, quoted strings with escapes, commas inside quotes, token68 credentials
// and empty list elements. On malformed input it returns the challenges read so far and
// an error wrapping ErrMalformedChallenge.
func ParseWWWAuthenticate(header string) ([]Challenge, error) {
	p := &challengeParser{s: header}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.fail("expected auth-scheme")
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		sp := p.skipSpaces()
		if !p.done() && p.peek() != ',' {
			if sp == 0 {
				return out, p.fail("expected space after auth-scheme")
			}
			if err := p.challengeBody(&c); err != nil {
				return append(out, c), err
			}
		}
		out = append(out, c)
	}
}

// ChallengesFromHeader parses every WWW-Authenticate field of h.
func ChallengesFromHeader(h http.Header) ([]Challenge, error) {
	var all []Challenge
	var firstErr error
	for _, v := range h.Values("WWW-Authenticate") {
		cs, err := ParseWWWAuthenticate(v)
		all = append(all, cs...)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return all, firstErr
}

// BearerChallenge returns the first Bearer challenge of h, if any. Malformed trailing
// challenges do not hide a well-formed Bearer challenge before them.
func BearerChallenge(h http.Header) (Challenge, bool) {
	cs, _ := ChallengesFromHeader(h)
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, "Bearer") {
			return c, true
		}
	}
	return Challenge{}, false
}

type challengeParser struct {
	s   string
	pos int
}

func (p *challengeParser) done() bool { return p.pos >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.pos] }

func (p *challengeParser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformedChallenge, what, p.pos)
}

func (p *challengeParser) skipSpaces() int {
	start := p.pos
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
	return p.pos - start
}

// skipListSeparators skips OWS and empty list elements ("a, , b").
func (p *challengeParser) skipListSeparators() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == ',') {
		p.pos++
	}
}

func (p *challengeParser) token() string {
	start := p.pos
	for !p.done() && isTchar(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// challengeBody reads either a token68 or a list of auth-params, stopping before the comma
// that starts the next challenge.
func (p *challengeParser) challengeBody(c *Challenge) error {
	if t68, ok := p.tryToken68(); ok {
		c.Token68 = t68
		return nil
	}
	for {
		name := p.token()
		if name == "" {
			return p.fail("expected auth-param name")
		}
		p.skipSpaces()
		if p.done() || p.peek() != '=' {
			return p.fail("expected '=' after auth-param name")
		}
		p.pos++
		p.skipSpaces()
		var val string
		if !p.done() && p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return err
			}
			val = v
		} else {
			val = p.token()
			if val == "" {
				return p.fail("expected auth-param value")
			}
		}
		key := strings.ToLower(name)
		if _, dup := c.Params[key]; !dup { // RFC 9110: each name at most once; keep the first
			c.Params[key] = val
		}
		p.skipSpaces()
		if p.done() {
			return nil
		}
		if p.peek() != ',' {
			return p.fail("expected ',' between auth-params")
		}
		// Look past the commas: "name =" continues this challenge, anything else starts a new one.
		save := p.pos
		p.skipListSeparators()
		if p.done() {
			return nil
		}
		if !p.nextIsParam() {
			p.pos = save
			return nil
		}
	}
}

// nextIsParam reports whether an auth-param (token BWS "=") starts here, without consuming.
func (p *challengeParser) nextIsParam() bool {
	save := p.pos
	defer func() { p.pos = save }()
	if p.token() == "" {
		return false
	}
	p.skipSpaces()
	if p.done() || p.peek() != '=' {
		return false
	}
	// "name==" is a token68 of a new challenge, not a parameter.
	p.pos++
	p.skipSpaces()
	return p.done() || p.peek() != '='
}

// tryToken68 consumes a token68 when the rest of this challenge is exactly one.
func (p *challengeParser) tryToken68() (string, bool) {
	start := p.pos
	for !p.done() && isToken68char(p.peek()) {
		p.pos++
	}
	if p.pos == start {
		return "", false
	}
	for !p.done() && p.peek() == '=' {
		p.pos++
	}
	end := p.pos
	p.skipSpaces()
	if p.done() || p.peek() == ',' {
		return p.s[start:end], true
	}
	p.pos = start
	return "", false
}

// quoted reads a quoted-string, resolving quoted-pairs.
func (p *challengeParser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for !p.done() {
		ch := p.peek()
		switch {
		case ch == '"':
			p.pos++
			return b.String(), nil
		case ch == '\\':
			p.pos++
			if p.done() {
				return "", p.fail("unterminated quoted-pair")
			}
			b.WriteByte(p.peek())
		default:
			b.WriteByte(ch)
		}
		p.pos++
	}
	return "", p.fail("unterminated quoted-string")
}

// isTchar reports RFC 9110 tchar.
func isTchar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken68char reports the characters of token68 before its trailing '='.
func isToken68char(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
