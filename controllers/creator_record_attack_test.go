package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Attacks on the creator record (mcpproxy.dev/created-by) of UpstreamCredentials by bob, who
// holds only the shipped editor role: he may neither create a credential recorded as someone
// else's, through any create path (plain, generateName, dry run, server-side apply), nor move
// or drop the record of alice's fresh credential through any update path (JSON patch, merge
// patch, server-side apply with force, a PUT without annotations). Each one is refused, or the
// API server writes bob regardless.
func TestCreatorRecordAttacks(t *testing.T) {
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	ctx := context.Background()
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	forged := func(name string) *mcpv1alpha1.UpstreamCredential {
		c := newCredential(ns, userSubject("bob"))
		if name != "" {
			c.GenerateName, c.Name = "", name
		}
		c.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: "alice"}
		return c
	}
	recorded := func(t *testing.T, c *mcpv1alpha1.UpstreamCredential, want string) {
		t.Helper()
		if got := c.Annotations[mcpv1alpha1.AnnotationCreatedBy]; got != want {
			t.Fatalf("credential %s records its creator as %q, want %q", c.Name, got, want)
		}
	}

	t.Run("create paths record the requester, whatever the request says", func(t *testing.T) {
		named := forged("bob-named")
		checkAdmission(t, bob.Create(ctx, named), "")
		recorded(t, getCredential(t, named), "bob")

		generated := forged("")
		checkAdmission(t, bob.Create(ctx, generated), "")
		recorded(t, getCredential(t, generated), "bob")

		dry := forged("bob-dry")
		checkAdmission(t, bob.Create(ctx, dry, client.DryRunAll), "")
		recorded(t, dry, "bob")

		// Server-side apply creating the object (a PATCH the API server admits as CREATE).
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mcpv1alpha1.GroupVersion.String(), "kind": "UpstreamCredential",
			"metadata": map[string]any{"name": "bob-applied", "namespace": ns,
				"annotations": map[string]any{mcpv1alpha1.AnnotationCreatedBy: "alice"}},
			"spec": map[string]any{"serverRef": map[string]any{"name": "linear"},
				"subjects": []any{map[string]any{"kind": "User", "name": "bob"}}},
		}}
		checkAdmission(t, bob.Patch(ctx, u, client.Apply, client.FieldOwner("bob"), client.ForceOwnership), "")
		applied := &mcpv1alpha1.UpstreamCredential{}
		applied.Namespace, applied.Name = ns, "bob-applied"
		recorded(t, getCredential(t, applied), "bob")
	})

	t.Run("update paths cannot move or drop alice's record", func(t *testing.T) {
		c := newCredential(ns, userSubject("alice"))
		if err := testenv.ClientAs(t, "alice", "system:authenticated").Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		recorded(t, c, "alice")
		key := "/metadata/annotations/mcpproxy.dev~1created-by"
		for name, p := range map[string]client.Patch{
			"json replace":             client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"`+key+`","value":"bob"}]`)),
			"json remove":              client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"`+key+`"}]`)),
			"json replace annotations": client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/metadata/annotations","value":{}}]`)),
			"merge null":               rawMerge(`{"metadata":{"annotations":{"` + mcpv1alpha1.AnnotationCreatedBy + `":null}}}`),
			"merge annotations null":   rawMerge(`{"metadata":{"annotations":null}}`),
			"merge bob":                rawMerge(`{"metadata":{"annotations":{"` + mcpv1alpha1.AnnotationCreatedBy + `":"bob"}}}`),
		} {
			t.Run(name, func(t *testing.T) {
				checkAdmission(t, bob.Patch(ctx, getCredential(t, c), p), "cannot be changed")
			})
		}
		t.Run("server-side apply with force", func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": mcpv1alpha1.GroupVersion.String(), "kind": "UpstreamCredential",
				"metadata": map[string]any{"name": c.Name, "namespace": ns,
					"annotations": map[string]any{mcpv1alpha1.AnnotationCreatedBy: "bob"}},
			}}
			checkAdmission(t, bob.Patch(ctx, u, client.Apply, client.FieldOwner("bob"), client.ForceOwnership), "cannot be changed")
		})
		t.Run("a PUT without annotations", func(t *testing.T) {
			cur := getCredential(t, c)
			cur.Annotations = nil
			checkAdmission(t, bob.Update(ctx, cur), "cannot be changed")
		})
		t.Run("a PUT that also adds bob", func(t *testing.T) {
			cur := getCredential(t, c)
			cur.Annotations[mcpv1alpha1.AnnotationCreatedBy] = "bob"
			cur.Spec.Subjects = append(cur.Spec.Subjects, userSubject("bob"))
			checkAdmission(t, bob.Update(ctx, cur), "cannot be changed")
		})
		recorded(t, getCredential(t, c), "alice")
	})

	t.Run("subjects that look like someone else are not oneself", func(t *testing.T) {
		// A User subject spelled as a ServiceAccount's user name is still someone else.
		checkAdmission(t, bob.Create(ctx, newCredential(ns, userSubject("system:serviceaccount:"+ns+":agent"))),
			"binding user system:serviceaccount:"+ns+":agent needs impersonate")
		// A ServiceAccount whose namespace and name concatenate to another user's name.
		sa := testenv.ClientAs(t, "system:serviceaccount:"+ns+":agent", "system:serviceaccounts", "system:authenticated")
		checkAdmission(t, sa.Create(ctx, newCredential(ns, saSubject(ns+":agent", "x"))), "needs impersonate")
		// A group that happens to be named like bob.
		checkAdmission(t, bob.Create(ctx, newCredential(ns, groupSubject("bob"))), "binding group bob needs impersonate on groups/bob")
	})
}

// credentialMode PerSubject cannot be switched back to Shared by bob (editor) through a JSON
// patch (replace or remove: the default is Shared) or server-side apply, nor by anyone through
// the status subresource (which ignores spec).
func TestCredentialModeSwitchPaths(t *testing.T) {
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	ctx := context.Background()
	us := createPerSubjectServer(t, ns, "gh", "https://example.invalid/mcp")
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	const refused = "credentialMode PerSubject cannot be changed"
	for name, p := range map[string]client.Patch{
		"json replace": client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/credentialMode","value":"Shared"}]`)),
		"json remove":  client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/spec/credentialMode"}]`)),
		"merge null":   rawMerge(`{"spec":{"credentialMode":null}}`),
	} {
		t.Run(name, func(t *testing.T) { checkAdmission(t, bob.Patch(ctx, get(t, us), p), refused) })
	}
	t.Run("server-side apply", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mcpv1alpha1.GroupVersion.String(), "kind": "UpstreamServer",
			"metadata": map[string]any{"name": us.Name, "namespace": ns},
			"spec":     map[string]any{"url": us.Spec.URL, "credentialMode": "Shared"},
		}}
		checkAdmission(t, bob.Patch(ctx, u, client.Apply, client.FieldOwner("bob"), client.ForceOwnership), refused)
	})
	t.Run("status subresource", func(t *testing.T) {
		cur := get(t, us)
		cur.Spec.CredentialMode = mcpv1alpha1.CredentialModeShared
		if err := bob.Status().Update(ctx, cur); err == nil {
			t.Fatalf("bob (editor) may write status")
		}
		if err := apiClient.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	})
	if got := get(t, us).Spec.CredentialMode; got != mcpv1alpha1.CredentialModePerSubject {
		t.Fatalf("gh is %s after the attempts", got)
	}
}

// Bob (editor) deletes alice's fresh credential and creates it again under the same name, bound
// to himself: it records bob as its creator, and alice's login, handed over into it (as a CLI
// that did not notice the replacement would), is refused: bob never holds alice's account.
func TestRecreatedFreshCredentialRefusesTheFormerCreatorsLogin(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	testenv.InstallHandOverPolicy(t, ns)
	h := startHarness(t, ns, "")
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	ctx := context.Background()
	alice, bob := testenv.ClientAs(t, "alice", "system:authenticated"), testenv.ClientAs(t, "bob", "system:authenticated")
	c := &mcpv1alpha1.UpstreamCredential{}
	c.Namespace, c.Name = ns, "gh-user-alice"
	c.Spec = mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: us.Name},
		Subjects: []mcpv1alpha1.CredentialSubject{userSubject("alice")}}
	if err := alice.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := bob.Delete(ctx, getCredential(t, c)); err != nil {
		t.Fatalf("bob may not delete alice's credential: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "gh-user-alice gone", func() bool { return gone(t, c) })
	mine := c.DeepCopy()
	mine.ResourceVersion, mine.UID, mine.Annotations = "", "", nil
	mine.Spec.Subjects = []mcpv1alpha1.CredentialSubject{userSubject("bob")}
	if err := bob.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if got := mine.Annotations[mcpv1alpha1.AnnotationCreatedBy]; got != "bob" {
		t.Fatalf("the recreated credential records %q", got)
	}
	handOverAsUser(t, srv, us, mine, "alice", "alice-upstream")
	testenv.Eventually(t, 30*time.Second, "alice's hand-over refused", func() (bool, string) {
		cur := getCredential(t, mine)
		la := credCondition(cur, mcpv1alpha1.ConditionLoginAccepted)
		return la != nil && la.Status == "False" && strings.Contains(la.Message, "belongs to bob, who created it"), describeCred(cur)
	})
	if rec, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, mine))); err == nil {
		t.Fatalf("bob's recreated credential holds the login of %s", rec.ObtainedBy)
	}
}
