package controllers_test

import (
	"context"
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The upstream-credential-binding ValidatingAdmissionPolicy (config/admission), enforced by the
// real API server, with real RBAC and impersonated users. Everyone but nora has the shipped
// editor ClusterRole in the namespace: verb login on every server and create/update on
// UpstreamCredentials, but no right to act as anyone. On top of it:
//   - alice: nothing (she is in group devs);
//   - tina: create on serviceaccounts/token of ServiceAccount agent only;
//   - ivan: impersonate on ServiceAccount agent only;
//   - uma: impersonate on users/bob only (cluster-wide: users are not namespaced);
//   - gina: impersonate on groups/devs only;
//   - tess: create on serviceaccounts/token of every ServiceAccount in the namespace, no impersonate;
//   - the ServiceAccount agent itself, bound to the editor role;
//   - nora: create/update on UpstreamCredentials, but not the editor role: no login.
//
// No manager runs: admission is the API server's.
func bindCredentialUsers(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	editor := shippedRole(t, "upstreamserver_user_role.yaml", ns)
	core := func(verb, resource string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{verb}, ResourceNames: names}
	}
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
	}
	tokenAgent := role("token-agent", core("create", "serviceaccounts/token", "agent"))
	impersonateAgent := role("impersonate-agent", core("impersonate", "serviceaccounts", "agent"))
	tokenAll := role("token-all", core("create", "serviceaccounts/token"))
	credentialsOnly := role("credentials-only", rbacv1.PolicyRule{APIGroups: []string{mcpv1alpha1.GroupVersion.Group},
		Resources: []string{"upstreamcredentials"}, Verbs: []string{"create", "update", "get"}})
	impersonateBob := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob-" + ns},
		Rules: []rbacv1.PolicyRule{core("impersonate", "users", "bob")}}
	impersonateDevs := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-devs-" + ns},
		Rules: []rbacv1.PolicyRule{core("impersonate", "groups", "devs")}}
	agentAsEditor := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "editor-agent-", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: editor.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "agent", Namespace: ns}}}
	objs := []client.Object{editor, tokenAgent, impersonateAgent, tokenAll, credentialsOnly, impersonateBob, impersonateDevs,
		roleBinding(ns, "ClusterRole", editor.Name, "alice", "tina", "ivan", "uma", "gina", "tess", "bob", "owen"),
		roleBinding(ns, "Role", tokenAgent.Name, "tina"),
		roleBinding(ns, "Role", impersonateAgent.Name, "ivan"),
		roleBinding(ns, "Role", tokenAll.Name, "tess"),
		roleBinding(ns, "Role", credentialsOnly.Name, "nora"),
		clusterRoleBindingFor(impersonateBob.Name, "uma"),
		clusterRoleBindingFor(impersonateDevs.Name, "gina"),
		agentAsEditor}
	for _, o := range objs {
		if err := apiClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		if o.GetNamespace() == "" {
			t.Cleanup(func() { _ = apiClient.Delete(context.Background(), o) })
		}
	}
}

func clusterRoleBindingFor(role, user string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
}

func saSubject(ns, name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Name: name, Namespace: ns}
}

func userSubject(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: name}
}

func groupSubject(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: name}
}

// newCredential is an UpstreamCredential for server linear binding subjects.
func newCredential(ns string, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
	return &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "linear-", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "linear"},
			Subjects: subjects},
	}
}

// serviceAccounts are n ServiceAccount subjects of ns, named sa-0, sa-1...
func serviceAccounts(ns string, n int) []mcpv1alpha1.CredentialSubject {
	var out []mcpv1alpha1.CredentialSubject
	for i := range n {
		out = append(out, saSubject(ns, fmt.Sprintf("sa-%d", i)))
	}
	return out
}

// asServiceAccount is a client that reaches the API server as ServiceAccount ns/name.
func asServiceAccount(t *testing.T, ns, name string) client.Client {
	return testenv.ClientAs(t, "system:serviceaccount:"+ns+":"+name,
		"system:serviceaccounts", "system:serviceaccounts:"+ns, "system:authenticated")
}

func TestAdmissionOfCredentialBindings(t *testing.T) {
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	as := func(user string) client.Client { return testenv.ClientAs(t, user, "devs", "system:authenticated") }
	saNeeds := func(name string) string {
		return "binding serviceaccount " + ns + "/" + name + " needs impersonate on serviceaccounts/" + name + " in " + ns +
			" or create on serviceaccounts/token for it"
	}

	for _, tc := range []struct {
		name    string
		client  client.Client
		cred    *mcpv1alpha1.UpstreamCredential
		refused string // a part of the refusal's message; "" when admitted
	}{
		// ServiceAccount.
		{"login alone cannot bind a ServiceAccount", as("alice"), newCredential(ns, saSubject(ns, "agent")),
			saNeeds("agent") + ", which user alice lacks"},
		{"create on its serviceaccounts/token binds a ServiceAccount", as("tina"), newCredential(ns, saSubject(ns, "agent")), ""},
		{"serviceaccounts/token of another ServiceAccount is not enough", as("tina"), newCredential(ns, saSubject(ns, "other")),
			saNeeds("other")},
		{"impersonate binds a ServiceAccount", as("ivan"), newCredential(ns, saSubject(ns, "agent")), ""},
		{"a ServiceAccount of the same name elsewhere is another one", as("ivan"), newCredential(ns, saSubject("default", "agent")),
			"binding serviceaccount default/agent needs impersonate on serviceaccounts/agent in default"},
		{"a ServiceAccount binds itself", asServiceAccount(t, ns, "agent"), newCredential(ns, saSubject(ns, "agent")), ""},
		// User.
		{"login alone cannot bind another user", as("alice"), newCredential(ns, userSubject("bob")),
			"binding user bob needs impersonate on users/bob, which user alice lacks"},
		{"a user binds herself", as("alice"), newCredential(ns, userSubject("alice")), ""},
		{"impersonate binds another user", as("uma"), newCredential(ns, userSubject("bob")), ""},
		{"impersonate on one user is not on another", as("uma"), newCredential(ns, userSubject("carol")),
			"binding user carol needs impersonate on users/carol"},
		// Group.
		{"a member cannot bind her group without impersonate", as("alice"), newCredential(ns, groupSubject("devs")),
			"binding group devs needs impersonate on groups/devs, which user alice lacks (being a member is not enough"},
		{"nor a system group", as("alice"), newCredential(ns, groupSubject("system:serviceaccounts")),
			"binding group system:serviceaccounts needs impersonate on groups/system:serviceaccounts"},
		{"impersonate binds a group", as("gina"), newCredential(ns, groupSubject("devs")), ""},
		// The server.
		{"binding needs verb login on the server", as("nora"), newCredential(ns, userSubject("nora")),
			"user nora may not bind a login to UpstreamServer " + ns + "/linear: you need verb login on upstreamservers/linear" +
				" (group mcp.mcpproxy.dev) in namespace " + ns},
		// Several subjects: each is checked, the first refused one is named.
		{"oneself and an allowed subject", as("ivan"), newCredential(ns, userSubject("ivan"), saSubject(ns, "agent")), ""},
		{"the first subject refused is named", as("ivan"),
			newCredential(ns, userSubject("ivan"), saSubject(ns, "agent"), userSubject("bob"), groupSubject("devs")),
			"binding user bob needs impersonate on users/bob, which user ivan lacks"},
		// The policy's budget: 12 subjects of two authorization checks each pass; a 13th is refused.
		{fmt.Sprintf("%d ServiceAccounts through serviceaccounts/token", testenv.CredentialPolicyMaxOthers), as("tess"),
			newCredential(ns, serviceAccounts(ns, testenv.CredentialPolicyMaxOthers)...), ""},
		{"one subject more than a request may bind", as("tess"),
			newCredential(ns, append(serviceAccounts(ns, testenv.CredentialPolicyMaxOthers+1), userSubject("tess"))...),
			fmt.Sprintf("this request binds %d subjects other than user tess, and one request may bind at most %d",
				testenv.CredentialPolicyMaxOthers+1, testenv.CredentialPolicyMaxOthers)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAdmission(t, tc.client.Create(context.Background(), tc.cred), tc.refused)
		})
	}
}

// TestAdmissionOfCredentialUpdates: an update is checked for the subjects it adds; one that adds
// none (removals, metadata: the controller's finalizer) takes RBAC alone. A credential holding
// someone's login (status.token.obtainedBy) takes new subjects only from that person, or from
// someone allowed to impersonate them.
func TestAdmissionOfCredentialUpdates(t *testing.T) {
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	ctx := context.Background()
	// createBy stores a credential created by creator (an administrator by that name, so the
	// creator policy records them), holding the login of owner ("" for none).
	createBy := func(t *testing.T, creator, owner string, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
		t.Helper()
		c := newCredential(ns, subjects...)
		if err := testenv.ClientAs(t, creator, "system:masters").Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := c.Annotations[mcpv1alpha1.AnnotationCreatedBy]; got != creator {
			t.Fatalf("the credential records its creator as %q, want %q", got, creator)
		}
		if owner != "" {
			c.Status.Token = &mcpv1alpha1.TokenStatus{ObtainedBy: owner}
			if err := apiClient.Status().Update(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	create := func(t *testing.T, owner string, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
		t.Helper()
		return createBy(t, "admin", owner, subjects...)
	}
	withSubjects := func(c *mcpv1alpha1.UpstreamCredential, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
		c = c.DeepCopy()
		c.Spec.Subjects = subjects
		return c
	}

	t.Run("adding a subject is checked like binding it", func(t *testing.T) {
		c := createBy(t, "alice", "", userSubject("alice"))
		checkAdmission(t, testenv.ClientAs(t, "alice").Update(ctx, withSubjects(c, userSubject("alice"), saSubject(ns, "agent"))),
			"binding serviceaccount "+ns+"/agent needs impersonate on serviceaccounts/agent")
		d := createBy(t, "ivan", "", userSubject("ivan"))
		checkAdmission(t, testenv.ClientAs(t, "ivan").Update(ctx, withSubjects(d, userSubject("ivan"), saSubject(ns, "agent"))), "")
	})
	t.Run("before the first login the credential belongs to its creator", func(t *testing.T) {
		// Before: bob (login on the server) added himself to alice's fresh credential, or ivan
		// (who may act as her agent) put her agent under it, and then handed his own login in.
		c := createBy(t, "alice", "", userSubject("alice"))
		checkAdmission(t, testenv.ClientAs(t, "bob").Update(ctx, withSubjects(c, userSubject("alice"), userSubject("bob"))),
			"UpstreamCredential "+ns+"/"+c.Name+" belongs to alice, who created it (nobody has logged in for it yet): a subject added"+
				" to it acts upstream as alice, so only alice or someone allowed to impersonate them may add one (user bob may not)")
		checkAdmission(t, testenv.ClientAs(t, "ivan").Update(ctx, withSubjects(c, userSubject("alice"), saSubject(ns, "agent"))),
			"belongs to alice, who created it")
		checkAdmission(t, testenv.ClientAs(t, "alice").Update(ctx, withSubjects(c, userSubject("alice"), groupSubject("devs"))),
			"binding group devs needs impersonate on groups/devs")
	})
	t.Run("the creator record cannot change", func(t *testing.T) {
		c := createBy(t, "alice", "", userSubject("alice"))
		for _, who := range []client.Client{testenv.ClientAs(t, "bob"), testenv.ClientAs(t, "alice"), apiClient} {
			forged := c.DeepCopy()
			forged.Annotations[mcpv1alpha1.AnnotationCreatedBy] = "bob"
			checkAdmission(t, who.Update(ctx, forged), "records who created UpstreamCredential "+ns+"/"+c.Name+" (alice) and cannot be changed")
			dropped := c.DeepCopy()
			delete(dropped.Annotations, mcpv1alpha1.AnnotationCreatedBy)
			checkAdmission(t, who.Update(ctx, dropped), "cannot be changed")
		}
	})
	t.Run("subjects already bound are not checked again", func(t *testing.T) {
		c := createBy(t, "alice", "", saSubject(ns, "agent"), userSubject("bob"))
		// Alice may act as neither, but removes one and changes the scopes.
		changed := withSubjects(c, saSubject(ns, "agent"))
		changed.Spec.Scopes = []string{"read"}
		checkAdmission(t, testenv.ClientAs(t, "alice").Update(ctx, changed), "")
	})
	t.Run("an update that adds no subject needs no login", func(t *testing.T) {
		c := create(t, "", saSubject(ns, "agent"))
		c.Finalizers = []string{"mcp.mcpproxy.dev/test"}
		checkAdmission(t, testenv.ClientAs(t, "nora").Update(ctx, c), "")
		c.Finalizers = nil
		if err := apiClient.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("adding a subject needs login", func(t *testing.T) {
		c := createBy(t, "nora", "", userSubject("alice"))
		checkAdmission(t, testenv.ClientAs(t, "nora").Update(ctx, withSubjects(c, userSubject("alice"), userSubject("nora"))),
			"you need verb login on upstreamservers/linear")
	})
	t.Run("nobody else binds themselves to someone's login", func(t *testing.T) {
		c := create(t, "alice", userSubject("alice"))
		checkAdmission(t, testenv.ClientAs(t, "bob").Update(ctx, withSubjects(c, userSubject("alice"), userSubject("bob"))),
			"UpstreamCredential "+ns+"/"+c.Name+" holds the upstream login of alice: a subject added to it acts upstream as alice,"+
				" so only alice or someone allowed to impersonate them may add one (user bob may not)")
		// Impersonating the subject is not impersonating the owner.
		checkAdmission(t, testenv.ClientAs(t, "uma").Update(ctx, withSubjects(c, userSubject("alice"), userSubject("bob"))),
			"holds the upstream login of alice")
	})
	t.Run("the owner adds subjects she may act as", func(t *testing.T) {
		c := create(t, "ivan", userSubject("ivan"))
		c = withSubjects(c, userSubject("ivan"), saSubject(ns, "agent"))
		checkAdmission(t, testenv.ClientAs(t, "ivan").Update(ctx, c), "")
		checkAdmission(t, testenv.ClientAs(t, "ivan").Update(ctx, withSubjects(c, userSubject("ivan"), saSubject(ns, "agent"), userSubject("bob"))),
			"binding user bob needs impersonate on users/bob")
	})
	t.Run("someone allowed to impersonate the owner adds subjects", func(t *testing.T) {
		c := create(t, "bob", userSubject("bob"))
		checkAdmission(t, testenv.ClientAs(t, "uma").Update(ctx, withSubjects(c, userSubject("bob"), userSubject("uma"))), "")
	})
	t.Run("a ServiceAccount's login: its token right counts as acting as it", func(t *testing.T) {
		// The worst case of the policy's budget: login, the owner through serviceaccounts/token
		// (two checks), and 12 ServiceAccounts through serviceaccounts/token (two checks each).
		c := create(t, "system:serviceaccount:"+ns+":owner", saSubject(ns, "owner"))
		checkAdmission(t, testenv.ClientAs(t, "tess").Update(ctx,
			withSubjects(c, append(serviceAccounts(ns, testenv.CredentialPolicyMaxOthers), saSubject(ns, "owner"))...)), "")
		d := create(t, "system:serviceaccount:"+ns+":owner", saSubject(ns, "owner"))
		checkAdmission(t, testenv.ClientAs(t, "ivan").Update(ctx, withSubjects(d, saSubject(ns, "owner"), saSubject(ns, "agent"))),
			"holds the upstream login of system:serviceaccount:"+ns+":owner")
	})
}
