package browserlogin

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// HandOver turns a finished login into the hand-over payload the controller ingests. serverURL
// must be the UpstreamServer's spec.url, byte for byte: the controller compares them.
func HandOver(res *oauth.LoginResult, serverURL string, now time.Time) handover.Payload {
	return handover.Payload{
		Version:            handover.Version,
		ServerURL:          serverURL,
		Issuer:             res.Discovery.Issuer,
		Resource:           res.Discovery.Resource,
		TokenEndpoint:      res.Discovery.Metadata.TokenEndpoint,
		RevocationEndpoint: res.Discovery.Metadata.RevocationEndpoint,
		AccessToken:        res.Token.AccessToken,
		RefreshToken:       res.Token.RefreshToken,
		TokenType:          res.Token.TokenType,
		Expiry:             res.Token.Expiry,
		Scopes:             res.Token.Scopes,
		Client: handover.Client{
			ClientID:     res.Client.ClientID,
			ClientSecret: res.Client.ClientSecret,
			AuthMethod:   res.Client.AuthMethod,
			RedirectURI:  res.Client.RedirectURI,
		},
		CorrelationID: res.CorrelationID,
		CreatedAt:     now.UTC(),
	}
}
