package upstream

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func TestCredentialLoginCommandNamesTheSubjectAsTheCLITakesIt(t *testing.T) {
	for want, s := range map[string]mcpv1alpha1.CredentialSubject{
		"mcpproxy auth login gh -n team-a --for serviceaccount/team-a/agent": {Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: "team-a", Name: "agent"},
		"mcpproxy auth login gh -n team-a --for user/alice@example.com":      {Kind: mcpv1alpha1.SubjectUser, Name: "alice@example.com"},
		"mcpproxy auth login gh -n team-a --for group/system:authenticated":  {Kind: mcpv1alpha1.SubjectGroup, Name: "system:authenticated"},
		`mcpproxy auth login gh -n team-a --for 'user/Bob O'\''Neil'`:        {Kind: mcpv1alpha1.SubjectUser, Name: "Bob O'Neil"},
	} {
		if got := CredentialLoginCommand("team-a", "gh", s); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func sa(ns, name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}
}

func user(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: name}
}

func group(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: name}
}

// A credential's login command names it only when `auth login --for SUBJECT` would not find it
// by its default name.
func TestLoginCommandForNamesACredentialWithAnotherName(t *testing.T) {
	for name, want := range map[string]string{
		"gh-sa-team-a-agent": "mcpproxy auth login gh -n team-a --for serviceaccount/team-a/agent",
		"alice-gh":           "mcpproxy auth login gh -n team-a --for serviceaccount/team-a/agent --credential alice-gh",
	} {
		if got := LoginCommandFor("team-a", "gh", name, sa("team-a", "agent")); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}

func TestDefaultCredentialName(t *testing.T) {
	readable := map[string]struct {
		server  string
		subject mcpv1alpha1.CredentialSubject
	}{
		"github-sa-team-a-agent": {"github", sa("team-a", "agent")},
		"github-user-alice":      {"github", user("alice")},
		"linear-group-platform":  {"linear", group("platform")},
	}
	for want, tc := range readable {
		if got := DefaultCredentialName(tc.server, tc.subject); got != want {
			t.Errorf("DefaultCredentialName(%s, %+v) = %q, want %q", tc.server, tc.subject, got, want)
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
		got := DefaultCredentialName(tc.server, tc.subject)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DefaultCredentialName(%s, %+v) = %q is not a DNS-1123 label: %v", tc.server, tc.subject, got, errs)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("DefaultCredentialName(%s, %+v) = %q is not a label value: %v", tc.server, tc.subject, got, errs)
		}
		if !strings.HasPrefix(got, tc.prefix) || len(got) < len(tc.prefix)+8 {
			t.Errorf("DefaultCredentialName(%s, %+v) = %q, want %q and a hash", tc.server, tc.subject, got, tc.prefix)
		}
		if again := DefaultCredentialName(tc.server, tc.subject); again != got {
			t.Errorf("credentialName is not deterministic: %q then %q", got, again)
		}
		key := tc.server + "/" + SubjectRef(tc.subject)
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
		if a, b := DefaultCredentialName("s", p[0]), DefaultCredentialName("s", p[1]); a == b {
			t.Errorf("%+v and %+v both get %q", p[0], p[1], a)
		}
	}
	if a, b := DefaultCredentialName("s", user(long+"1")), DefaultCredentialName("s", user(long+"2")); a == b {
		t.Errorf("two long user names that differ at the end both get %q", a)
	}
}
