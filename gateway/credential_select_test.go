package gateway

import (
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
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

// cred is a credential of server gh created age minutes before a fixed time.
func cred(name string, age int, subjects ...mcpv1alpha1.CredentialSubject) mcpv1alpha1.UpstreamCredential {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	return mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute))},
		Spec:       mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "gh"}, Subjects: subjects},
	}
}

func TestSelectCredential(t *testing.T) {
	agent := &Identity{Name: "system:serviceaccount:team-a:agent",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"}}
	alice := &Identity{Name: "alice", Groups: []string{"devs", "system:authenticated"}}
	deleting := cred("deleting", 90, sa("team-a", "agent"))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for name, c := range map[string]struct {
		id      *Identity
		creds   []mcpv1alpha1.UpstreamCredential
		named   string
		want    string // the chosen credential; "" none
		via     mcpv1alpha1.CredentialSubject
		refused bool
		yours   []string
	}{
		"no credential": {id: agent, creds: []mcpv1alpha1.UpstreamCredential{cred("other", 1, sa("team-a", "other"), user("agent"))}},
		"service account subject": {id: agent, want: "mine", via: sa("team-a", "agent"),
			creds: []mcpv1alpha1.UpstreamCredential{cred("mine", 1, user("bob"), sa("team-a", "agent"))}, yours: []string{"mine"}},
		"a service account of another namespace is another": {id: agent,
			creds: []mcpv1alpha1.UpstreamCredential{cred("theirs", 1, sa("team-b", "agent"))}},
		"user subject": {id: alice, want: "alices", via: user("alice"),
			creds: []mcpv1alpha1.UpstreamCredential{cred("alices", 1, user("alice"))}, yours: []string{"alices"}},
		"group subject": {id: alice, want: "devs", via: group("devs"),
			creds: []mcpv1alpha1.UpstreamCredential{cred("devs", 1, group("ops"), group("devs"))}, yours: []string{"devs"}},
		"own subject beats an older group": {id: agent, want: "mine", via: sa("team-a", "agent"), yours: []string{"mine", "team"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("team", 60, group("system:serviceaccounts:team-a")), cred("mine", 1, sa("team-a", "agent"))}},
		"a credential naming both the caller and its group matches directly": {id: alice, want: "both", via: user("alice"),
			yours: []string{"both", "old-group"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("old-group", 60, group("devs")), cred("both", 1, group("devs"), user("alice"))}},
		"oldest among equals": {id: agent, want: "older", via: sa("team-a", "agent"), yours: []string{"older", "newer"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("newer", 1, sa("team-a", "agent")), cred("older", 5, sa("team-a", "agent"))}},
		"same age: by name": {id: agent, want: "a", via: sa("team-a", "agent"), yours: []string{"a", "b"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("b", 5, sa("team-a", "agent")), cred("a", 5, sa("team-a", "agent"))}},
		"the header picks among matches": {id: agent, named: "newer", want: "newer", via: sa("team-a", "agent"), yours: []string{"older", "newer"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("newer", 1, sa("team-a", "agent")), cred("older", 5, sa("team-a", "agent"))}},
		"the header may pick a group match": {id: agent, named: "team", want: "team", via: group("system:serviceaccounts:team-a"),
			yours: []string{"mine", "team"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("team", 60, group("system:serviceaccounts:team-a")), cred("mine", 1, sa("team-a", "agent"))}},
		"the header naming someone else's is refused": {id: agent, named: "bobs", refused: true, yours: []string{"mine"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("bobs", 9, user("bob")), cred("mine", 1, sa("team-a", "agent"))}},
		"the header naming none is refused": {id: agent, named: "nope", refused: true, yours: []string{"mine"},
			creds: []mcpv1alpha1.UpstreamCredential{cred("mine", 1, sa("team-a", "agent"))}},
		"a credential being deleted is not used": {id: agent, want: "newer", via: sa("team-a", "agent"), yours: []string{"newer"},
			creds: []mcpv1alpha1.UpstreamCredential{deleting, cred("newer", 1, sa("team-a", "agent"))}},
		"a user subject named like the caller's groups is not a group": {id: alice,
			creds: []mcpv1alpha1.UpstreamCredential{cred("x", 1, user("devs"))}},
	} {
		t.Run(name, func(t *testing.T) {
			sel := selectCredential(c.id, c.creds, c.named)
			got := ""
			if sel.match != nil {
				got = sel.match.cred.Name
				if sel.match.subject != c.via {
					t.Errorf("matched by %+v, want %+v", sel.match.subject, c.via)
				}
			}
			if got != c.want || sel.refused != c.refused || !slices.Equal(sel.yours, c.yours) {
				t.Fatalf("selected %q refused=%v yours=%v, want %q refused=%v yours=%v", got, sel.refused, sel.yours, c.want, c.refused, c.yours)
			}
		})
	}
}

func TestCredentialHeaderEntries(t *testing.T) {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "gh"}}
	creds := []mcpv1alpha1.UpstreamCredential{cred("mine", 1), cred("second", 1)}
	for name, c := range map[string]struct {
		header    []string
		strict    bool
		want      string
		ambiguous bool
	}{
		"none":                            {},
		"a bare name":                     {header: []string{"mine"}, strict: true, want: "mine"},
		"namespace/name":                  {header: []string{"team-a/mine"}, strict: true, want: "mine"},
		"another server's entry (/mcp)":   {header: []string{"other, team-b/mine, mine"}, want: "mine"},
		"another namespace is refused":    {header: []string{"team-b/mine"}, strict: true, want: "team-b/mine"},
		"an unknown name is refused":      {header: []string{"nope"}, strict: true, want: "nope"},
		"an unknown name is ignored":      {header: []string{"nope"}},
		"a malformed name is refused":     {header: []string{"Not_A_Name"}, strict: true, want: "Not_A_Name"},
		"two for one server":              {header: []string{"mine", "second"}, want: "mine, second", ambiguous: true},
		"the same one twice":              {header: []string{"mine, team-a/mine"}, strict: true, want: "mine"},
		"empty entries are skipped":       {header: []string{" , mine ,"}, strict: true, want: "mine"},
		"another server's entry (strict)": {header: []string{"other"}, strict: true, want: "other"},
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.header {
				h.Add(CredentialHeader, v)
			}
			got, ambiguous := namedFor(credentialEntries(h), us, creds, c.strict)
			if got != c.want || ambiguous != c.ambiguous {
				t.Fatalf("namedFor = %q, %v; want %q, %v", got, ambiguous, c.want, c.ambiguous)
			}
		})
	}
}

func TestLoginCommandForTheCaller(t *testing.T) {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "github"}}
	agent := &Identity{Name: "system:serviceaccount:team-a:agent"}
	if got, want := loginCommandFor(agent, us, nil), "mcpproxy auth login github -n team-a --for serviceaccount/team-a/agent"; got != want {
		t.Errorf("no credential: %q, want %q", got, want)
	}
	if got, want := loginCommandFor(&Identity{Name: "alice@example.com"}, us, nil), "mcpproxy auth login github -n team-a --for user/alice@example.com"; got != want {
		t.Errorf("a user: %q, want %q", got, want)
	}
	c := cred("team", 1, group("devs"))
	m := &credentialMatch{cred: &c, subject: group("devs")}
	if got, want := loginCommandFor(agent, us, m), "mcpproxy auth login github -n team-a --for group/devs --credential team"; got != want {
		t.Errorf("a group credential: %q, want %q", got, want)
	}
	if got := callerSubject(&Identity{Name: "system:serviceaccount:odd"}); got != user("system:serviceaccount:odd") {
		t.Errorf("a malformed service account name is a user: %+v", got)
	}
}
