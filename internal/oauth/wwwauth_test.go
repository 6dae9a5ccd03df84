package oauth

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseWWWAuthenticate(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []Challenge
		wantErr bool
	}{
		"bearer with params": {
			in: `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", scope="a b"`,
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{
				"resource_metadata": "https://x/.well-known/oauth-protected-resource", "scope": "a b"}}},
		},
		"comma inside quotes": {
			in:   `Bearer realm="a, b", error="insufficient_scope"`,
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "a, b", "error": "insufficient_scope"}}},
		},
		"escaped quote": {
			in:   `Bearer error_description="say \"hi\" \\ ok"`,
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{"error_description": `say "hi" \ ok`}}},
		},
		"several schemes": {
			in: `Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"", Bearer scope=read`,
			want: []Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}},
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Bearer", Params: map[string]string{"scope": "read"}},
			},
		},
		"token68 then params": {
			in: `Negotiate abc+/=, Bearer realm=x`,
			want: []Challenge{
				{Scheme: "Negotiate", Params: map[string]string{}, Token68: "abc+/="},
				{Scheme: "Bearer", Params: map[string]string{"realm": "x"}},
			},
		},
		"bare schemes and empty elements": {
			in: ` , Bearer , ,Basic`,
			want: []Challenge{
				{Scheme: "Bearer", Params: map[string]string{}},
				{Scheme: "Basic", Params: map[string]string{}},
			},
		},
		"BWS around equals and case of names": {
			in:   `bearer Scope = "x y" ,Error= invalid_token`,
			want: []Challenge{{Scheme: "bearer", Params: map[string]string{"scope": "x y", "error": "invalid_token"}}},
		},
		"duplicate param keeps first": {
			in:   `Bearer scope="a", scope="b"`,
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": "a"}}},
		},
		"empty":              {in: ``},
		"unterminated quote": {in: `Bearer scope="abc`, wantErr: true},
		"missing value":      {in: `Bearer scope=, x=1`, wantErr: true},
		"garbage scheme":     {in: `"Bearer"`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWWWAuthenticate(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedChallenge) {
					t.Fatalf("err = %v, want ErrMalformedChallenge", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestBearerChallengeAcrossHeaders(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="x"`)
	h.Add("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mcp profile"`)
	scopes, ok := InsufficientScope(http.StatusForbidden, h)
	if !ok || strings.Join(scopes, " ") != "mcp profile" {
		t.Fatalf("InsufficientScope = %v, %v", scopes, ok)
	}
	if _, ok := InsufficientScope(http.StatusUnauthorized, h); ok {
		t.Fatal("a 401 is not a step-up challenge")
	}
}

func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{
		`Bearer resource_metadata="https://x/y", scope="a b"`,
		`Basic realm="a, b", Bearer error="insufficient_scope"`,
		`Negotiate abc==, Bearer`,
		`Bearer x="\"\\"`,
		`, ,`,
		`Bearer scope="unterminated`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cs, err := ParseWWWAuthenticate(in)
		if err != nil && !errors.Is(err, ErrMalformedChallenge) {
			t.Fatalf("unexpected error type: %v", err)
		}
		if err != nil {
			return
		}
		// Every successful parse must survive formatting and re-parsing unchanged.
		parts := make([]string, len(cs))
		for i, c := range cs {
			if c.Scheme == "" {
				t.Fatalf("empty scheme in %q", in)
			}
			parts[i] = c.String()
		}
		again, err := ParseWWWAuthenticate(strings.Join(parts, ", "))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", strings.Join(parts, ", "), err)
		}
		if !reflect.DeepEqual(cs, again) {
			t.Fatalf("round trip of %q:\n got %#v\nwant %#v", in, again, cs)
		}
	})
}
