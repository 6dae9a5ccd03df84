package lifecycle

import (
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// registerLive tells the redactor every secret this pass holds, however it arrived: loaded
// from the store, kept unsaved, handed over by a login, or read from the config (client secret,
// static header values). Anything the upstream echoes back into an error is then hidden.
func registerLive(f *Facts) {
	oauth.RegisterSecret(recordSecrets(f.Record)...)
	if f.Unsaved != nil {
		oauth.RegisterSecret(recordSecrets(f.Unsaved.Record)...)
	}
	for _, h := range f.HandOvers {
		oauth.RegisterSecret(recordSecrets(h.Record)...)
	}
	oauth.RegisterSecret(f.Config.OAuth.ClientSecret)
	for _, vs := range f.Config.Target.Headers {
		oauth.RegisterSecret(vs...)
	}
}

// forgetReplaced drops the values of old that next no longer holds, so the redactor's set
// follows the live tokens instead of growing with every refresh.
func forgetReplaced(old, next *tokenstore.Record) {
	if old == nil {
		return
	}
	keep := map[string]bool{}
	for _, v := range recordSecrets(next) {
		keep[v] = true
	}
	for _, v := range recordSecrets(old) {
		if !keep[v] {
			oauth.ForgetSecret(v)
		}
	}
}

func recordSecrets(rec *tokenstore.Record) []string {
	if rec == nil {
		return nil
	}
	return []string{rec.AccessToken, rec.RefreshToken, rec.Client.ClientSecret}
}
