package cli

import (
	"strings"
	"testing"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

func sa(ns, name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}
}

func user(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: name}
}

func group(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: name}
}

func TestParseSubject(t *testing.T) {
	good := map[string]mcpv1alpha1.CredentialSubject{
		"serviceaccount/team-a/agent":             sa("team-a", "agent"),
		"ServiceAccount/team-a/agent.v2":          sa("team-a", "agent.v2"),
		"sa/team-a/agent":                         sa("team-a", "agent"),
		"  user/alice  ":                          user("alice"),
		"User/alice@example.com":                  user("alice@example.com"),
		"user/https://issuer.example.com#alice":   user("https://issuer.example.com#alice"),
		"user/Alice Smith":                        user("Alice Smith"),
		"user/system:serviceaccount:team-a:agent": sa("team-a", "agent"),
		"group/platform":                          group("platform"),
		"groups/system:authenticated":             group("system:authenticated"),
	}
	for ref, want := range good {
		got, err := parseSubject(ref)
		if err != nil || got != want {
			t.Errorf("parseSubject(%q) = %+v, %v; want %+v", ref, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                    "name a subject as serviceaccount/NAMESPACE/NAME",
		"alice":                               "name a subject as serviceaccount/NAMESPACE/NAME",
		"/alice":                              "name a subject as",
		"role/admin":                          `unknown kind "role"`,
		"serviceaccount/agent":                "a ServiceAccount is serviceaccount/NAMESPACE/NAME",
		"serviceaccount/team-a/agent/x":       "a ServiceAccount is serviceaccount/NAMESPACE/NAME",
		"serviceaccount/Team_A/agent":         `"Team_A" is not a namespace name`,
		"serviceaccount/team-a/":              `"" is not a ServiceAccount name`,
		"serviceaccount//agent":               `"" is not a namespace name`,
		"serviceaccount/team-a/Agent":         `"Agent" is not a ServiceAccount name`,
		"user/":                               "the user name is empty",
		"group/":                              "the group name is empty",
		"user/system:serviceaccount:team-a":   "a ServiceAccount's user name is system:serviceaccount:NAMESPACE:NAME",
		"user/" + strings.Repeat("a", 254):    "at most 253 characters",
		"group/" + strings.Repeat("g", 254):   "at most 253 characters",
		"user/system:serviceaccount:NS:agent": "is not a namespace name",
	}
	for ref, want := range bad {
		_, err := parseSubject(ref)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--for") {
			t.Errorf("parseSubject(%q) = %v, want an error about --for with %q", ref, err, want)
		}
	}
}

func TestParseSubjectsKeepsOrderWithoutRepeats(t *testing.T) {
	got, err := parseSubjects([]string{"user/bob", "sa/ns/agent", "user/bob", "serviceaccount/ns/agent", "group/g"})
	if err != nil {
		t.Fatal(err)
	}
	want := []mcpv1alpha1.CredentialSubject{user("bob"), sa("ns", "agent"), group("g")}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("subject %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseSubjects([]string{"user/bob", "bob"}); err == nil {
		t.Error("a bad value among good ones was accepted")
	}
	// What parses is what the controller's login command writes.
	for _, s := range want {
		if back, err := parseSubject(upstream.SubjectRef(s)); err != nil || back != s {
			t.Errorf("SubjectRef(%+v) = %q parses as %+v, %v", s, upstream.SubjectRef(s), back, err)
		}
	}
}

func TestSelfSubject(t *testing.T) {
	cases := map[string]mcpv1alpha1.CredentialSubject{
		"alice":                            user("alice"),
		"system:serviceaccount:team-a:bot": sa("team-a", "bot"),
		"system:serviceaccount:team-a":     user("system:serviceaccount:team-a"),
		"system:serviceaccount:a:b:c":      user("system:serviceaccount:a:b:c"),
		"system:admin":                     user("system:admin"),
	}
	for name, want := range cases {
		if got := selfSubject(name); got != want {
			t.Errorf("selfSubject(%q) = %+v, want %+v", name, got, want)
		}
	}
}

func TestValidCredentialName(t *testing.T) {
	for _, ok := range []string{"github-user-alice", "a", "bots.github", strings.Repeat("a", 63)} {
		if err := validCredentialName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Alice", "a_b", "-a", strings.Repeat("a", 64)} {
		if err := validCredentialName(bad); err == nil || !strings.Contains(err.Error(), "--credential") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseTargetArg(t *testing.T) {
	good := map[string][2]string{
		"alpha":                        {kindServer, "alpha"},
		"upstreamserver/alpha":         {kindServer, "alpha"},
		"credential/github-user-bob":   {kindCredential, "github-user-bob"},
		"ucred/github-user-bob":        {kindCredential, "github-user-bob"},
		"UpstreamCredential/x":         {kindCredential, "x"},
		"upstreamcredentials/x":        {kindCredential, "x"},
		"credentials/github-sa-a-bot":  {kindCredential, "github-sa-a-bot"},
		"servers/alpha":                {kindServer, "alpha"},
		"upstreamservers.mcp/alpha":    {"", ""},
		"credential/":                  {"", ""},
		"credential/a/b":               {"", ""},
		"secret/handover":              {"", ""},
		"upstreamcredential/with-dash": {kindCredential, "with-dash"},
	}
	for arg, want := range good {
		kind, name, err := parseTargetArg(arg)
		if want[0] == "" {
			if err == nil || !strings.Contains(err.Error(), "credential/NAME") {
				t.Errorf("parseTargetArg(%q) = %s %s, %v; want an error", arg, kind, name, err)
			}
			continue
		}
		if err != nil || kind != want[0] || name != want[1] {
			t.Errorf("parseTargetArg(%q) = %s %s, %v; want %v", arg, kind, name, err, want)
		}
	}
}

// --login-hint is one more authorization request parameter, set on a copy: the spec's map
// (the object read from the API server) is left as it is.
func TestWithLoginHint(t *testing.T) {
	spec := map[string]string{"prompt": "consent"}
	cfg := withLoginHint(oauth.Config{ExtraParams: spec}, "bob")
	if cfg.ExtraParams["login_hint"] != "bob" || cfg.ExtraParams["prompt"] != "consent" {
		t.Errorf("extra params %v", cfg.ExtraParams)
	}
	if _, ok := spec["login_hint"]; ok || len(spec) != 1 {
		t.Errorf("the spec's map was changed: %v", spec)
	}
	if cfg := withLoginHint(oauth.Config{}, "bob"); cfg.ExtraParams["login_hint"] != "bob" {
		t.Errorf("no spec params: %v", cfg.ExtraParams)
	}
	if cfg := withLoginHint(oauth.Config{ExtraParams: spec}, ""); len(cfg.ExtraParams) != 1 {
		t.Errorf("no hint: %v", cfg.ExtraParams)
	}
}
