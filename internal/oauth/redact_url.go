package oauth

import (
	"net/url"
	"strings"
)

// credentialParams are query parameter names that carry credentials in URLs people paste into
// a spec (signed URLs, API keys, tokens).
var credentialParams = map[string]bool{
	"token": true, "access_token": true, "refresh_token": true, "id_token": true, "code": true,
	"api_key": true, "apikey": true, "api-key": true, "key": true, "secret": true, "client_secret": true,
	"password": true, "passwd": true, "pwd": true, "auth": true, "sig": true, "signature": true,
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
}

// RedactURL is raw as it may be printed: userinfo and the values of credential-looking query
// parameters replaced by Redacted, then registered secrets removed. A URL that does not parse
// is redacted as text.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redact(raw)
	}
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme + "://")
	}
	if u.User != nil {
		b.WriteString(Redacted + "@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" {
		b.WriteString("?" + redactQuery(u.RawQuery))
	}
	if u.Fragment != "" {
		b.WriteString("#" + Redacted)
	}
	return Redact(b.String())
}

// redactQuery keeps the parameters' order and names, hiding credential values.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		decoded, err := url.QueryUnescape(name)
		if err != nil {
			decoded = name
		}
		if hasValue && credentialParams[strings.ToLower(decoded)] {
			parts[i] = name + "=" + Redacted
		}
	}
	return strings.Join(parts, "&")
}
