package handover

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func validPayload() Payload {
	return Payload{
		ServerURL: "http://127.0.0.1:9000/mcp", Issuer: "http://127.0.0.1:9000",
		TokenEndpoint: "http://127.0.0.1:9000/token", AccessToken: "at-secret", RefreshToken: "rt-secret",
		TokenType: "Bearer", Expiry: time.Unix(1_800_000_000, 0).UTC(),
		Client: Client{ClientID: "cid", ClientSecret: "cs-secret"}, CreatedAt: time.Unix(1_700_000_000, 0).UTC(),
	}
}

func TestRoundTrip(t *testing.T) {
	in := validPayload()
	b, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.AccessToken != in.AccessToken || out.RefreshToken != in.RefreshToken || !out.Expiry.Equal(in.Expiry) || out.Client != in.Client {
		t.Fatalf("round trip changed the payload")
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]func(p *Payload) []byte{
		"garbage":                  func(p *Payload) []byte { return []byte("{not json at-secret") },
		"empty":                    func(p *Payload) []byte { return nil },
		"no access token":          func(p *Payload) []byte { p.AccessToken = ""; return enc(p) },
		"not bearer":               func(p *Payload) []byte { p.TokenType = "mac"; return enc(p) },
		"relative server url":      func(p *Payload) []byte { p.ServerURL = "/mcp"; return enc(p) },
		"refresh without endpoint": func(p *Payload) []byte { p.TokenEndpoint = ""; return enc(p) },
		"refresh without client":   func(p *Payload) []byte { p.Client.ClientID = ""; return enc(p) },
		"huge":                     func(p *Payload) []byte { return []byte(strings.Repeat(" ", maxPayload+1)) },
		"future version": func(p *Payload) []byte {
			b := enc(p)
			return []byte(strings.Replace(string(b), `"version":1`, `"version":9`, 1))
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			p := validPayload()
			_, err := Decode(mk(&p))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
			for _, secret := range []string{"at-secret", "rt-secret", "cs-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestFormattingNeverShowsSecrets(t *testing.T) {
	p := validPayload()
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, &p)} {
		for _, secret := range []string{"at-secret", "rt-secret", "cs-secret"} {
			if strings.Contains(s, secret) {
				t.Fatalf("formatted payload shows %q: %s", secret, s)
			}
		}
	}
}

func enc(p *Payload) []byte {
	b, _ := p.Encode()
	return b
}
