package cli

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

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

func TestCredentialName(t *testing.T) {
	readable := map[string]struct {
		server  string
		subject mcpv1alpha1.CredentialSubject
	}{
		"github-sa-team-a-agent": {"github", sa("team-a", "agent")},
		"github-user-alice":      {"github", user("alice")},
		"linear-group-platform":  {"linear", group("platform")},
	}
	for want, tc := range readable {
		if got := credentialName(tc.server, tc.subject); got != want {
			t.Errorf("credentialName(%s, %+v) = %q, want %q", tc.server, tc.subject, got, want)
		}
	}

	long := strings.Repeat("x", 60)
	hashed := []struct {
		server  string
		subject mcpv1alpha1.CredentialSubject
		prefix  string
	}{
		{"github", user("alice@example.com"), "github-user-alice-example-com-"},
		{"github", user("Alice"), "github-user-alice-"},
		{"github", sa("team-a", "agent.v2"), "github-sa-team-a-agent-v2-"},
		{"github", user("system:admin"), "github-user-system-admin-"},
		{"github", group("system:authenticated"), "github-group-system-authenticated-"},
		{"github", user("-"), "github-user-"},
		{"mcp.example", user("bob"), "mcp-example-user-bob-"},
		{"github", user(long), "github-user-xxxx"},
		{long, sa("ns", "agent"), "xxxx"},
	}
	seen := map[string]string{}
	for _, tc := range hashed {
		got := credentialName(tc.server, tc.subject)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("credentialName(%s, %+v) = %q is not a DNS-1123 label: %v", tc.server, tc.subject, got, errs)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("credentialName(%s, %+v) = %q is not a label value: %v", tc.server, tc.subject, got, errs)
		}
		if !strings.HasPrefix(got, tc.prefix) || len(got) < len(tc.prefix)+8 {
			t.Errorf("credentialName(%s, %+v) = %q, want %q and a hash", tc.server, tc.subject, got, tc.prefix)
		}
		if again := credentialName(tc.server, tc.subject); again != got {
			t.Errorf("credentialName is not deterministic: %q then %q", got, again)
		}
		key := tc.server + "/" + upstream.SubjectRef(tc.subject)
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s get the same name %q", other, key, got)
		}
		seen[got] = key
	}
	// Subjects that read alike once lower-cased or once their punctuation is replaced still
	// get names of their own.
	pairs := [][2]mcpv1alpha1.CredentialSubject{
		{user("a.b"), user("a_b")}, {user("Bob"), user("bob@")}, {user("alice@example.com"), user("alice.example.com")},
	}
	for _, p := range pairs {
		if a, b := credentialName("s", p[0]), credentialName("s", p[1]); a == b {
			t.Errorf("%+v and %+v both get %q", p[0], p[1], a)
		}
	}
	if a, b := credentialName("s", user(long+"1")), credentialName("s", user(long+"2")); a == b {
		t.Errorf("two long user names that differ at the end both get %q", a)
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
