package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// attackSetup: real RBAC (bindCredentialUsers: alice and bob hold only the shipped editor role),
// the admission policies, a manager, a PerSubject server gh and alice's credential gh-alice
// bound to alice's agent and to alice, holding alice's login.
func attackSetup(t *testing.T) (srv *oauthserver.Server, h *harness, ns string, us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential,
	handOverAs func(who, upstreamUser string)) {
	t.Helper()
	srv = testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns = newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	testenv.InstallHandOverPolicy(t, ns)
	h = startHarness(t, ns, "")
	us = createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	// Alice creates it (as an administrator: binding her agent needs the right to act as it),
	// so the creator policy records her and her login is its first.
	c = &mcpv1alpha1.UpstreamCredential{}
	c.Namespace, c.Name = ns, "gh-alice"
	c.Spec = mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: us.Name},
		Subjects: []mcpv1alpha1.CredentialSubject{saSubject(ns, "alice-agent"), userSubject("alice")}}
	if err := testenv.ClientAs(t, "alice", "system:masters").Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	handOverAs = func(who, upstreamUser string) {
		t.Helper()
		handOverAsUser(t, srv, us, c, who, upstreamUser)
	}
	handOverAs("alice", "alice-upstream")
	cur := waitCredVerified(t, c, 30*time.Second)
	if cur.Status.Token == nil || cur.Status.Token.ObtainedBy != "alice" {
		t.Fatalf("setup: gh-alice does not hold alice's login: %+v", cur.Status.Token)
	}
	return srv, h, ns, us, c, handOverAs
}

// handOverAsUser logs upstreamUser in to us and hands the login over into credential c as
// Kubernetes user who, through the login-handover policy.
func handOverAsUser(t *testing.T, srv *oauthserver.Server, us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential, who, upstreamUser string) {
	t.Helper()
	body, err := browserlogin.HandOver(testenv.HeadlessLoginAs(t, srv, us.Spec.URL, upstreamUser), us.Spec.URL, time.Now()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	sec := mcpv1alpha1.NewCredentialHandOverSecret(getCredential(t, c), body)
	sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: who}
	if err := testenv.ClientAs(t, who, "system:authenticated").Create(context.Background(), sec); err != nil {
		t.Fatalf("%s's hand-over refused: %v", who, err)
	}
}

// Alice creates a credential for herself and has not logged in yet. Bob (editor: login on the
// server) may neither add himself to it nor hand his own upstream login into it: it belongs to
// alice, who created it. (Before, he did both, and alice's calls went out as bob's account.)
func TestAFreshCredentialBelongsToItsCreator(t *testing.T) {
	srv, h, us, c := freshCredential(t, "alice", userSubject("alice"))
	ctx := context.Background()

	// 1. Bob may not add himself.
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	withBob := getCredential(t, c)
	withBob.Spec.Subjects = append(withBob.Spec.Subjects, userSubject("bob"))
	checkAdmission(t, bob.Update(ctx, withBob), "belongs to alice, who created it")

	// 2. Bob's own login, handed over into it, is refused and stores nothing.
	refusedFirstLogin(t, srv, h, us, c, "bob", "belongs to alice, who created it")

	// 3. Alice's login is taken.
	handOverAsUser(t, srv, us, c, "alice", "alice-upstream")
	cur := waitCredVerified(t, c, 30*time.Second)
	if cur.Status.Token == nil || cur.Status.Token.ObtainedBy != "alice" || cur.Status.Owner != "alice" {
		t.Fatalf("gh-alice after alice's login: token %+v, owner %q", cur.Status.Token, cur.Status.Owner)
	}
}

// Uma (editor, allowed to impersonate bob) creates her own credential, bound to herself and to
// bob so that bob may use her login. Before she has logged in, bob hands his own upstream login
// over into it: refused, it belongs to uma. (Before, bob, a user it lists, could supply the
// first login and own it for good: uma's calls wrote into bob's account.)
func TestAUserSubjectDoesNotSupplyTheFirstLogin(t *testing.T) {
	srv, h, us, c := freshCredential(t, "uma", userSubject("uma"), userSubject("bob"))
	refusedFirstLogin(t, srv, h, us, c, "bob", "belongs to uma, who created it")
	handOverAsUser(t, srv, us, c, "uma", "uma-upstream")
	if cur := waitCredVerified(t, c, 30*time.Second); cur.Status.Owner != "uma" {
		t.Fatalf("gh-uma's owner after uma's login: %q", cur.Status.Owner)
	}
}

// freshCredential: real RBAC (bindCredentialUsers), the admission policies, a manager, a
// PerSubject server gh and a credential gh-CREATOR that creator (an editor) created with
// subjects, which nobody has logged in to yet.
func freshCredential(t *testing.T, creator string, subjects ...mcpv1alpha1.CredentialSubject) (*oauthserver.Server, *harness,
	*mcpv1alpha1.UpstreamServer, *mcpv1alpha1.UpstreamCredential) {
	t.Helper()
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	bindCredentialUsers(t, ns)
	testenv.InstallCredentialPolicy(t, ns)
	testenv.InstallHandOverPolicy(t, ns)
	h := startHarness(t, ns, "")
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	c := &mcpv1alpha1.UpstreamCredential{}
	c.Namespace, c.Name = ns, "gh-"+creator
	c.Spec = mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: us.Name}, Subjects: subjects}
	if err := testenv.ClientAs(t, creator, "system:authenticated").Create(context.Background(), c); err != nil {
		t.Fatalf("%s may not create her credential: %v", creator, err)
	}
	testenv.Eventually(t, 30*time.Second, c.Name+" asks for a login", func() (bool, string) {
		cur := getCredential(t, c)
		return credNeedsLogin(cur, mcpv1alpha1.ReasonNoToken), describeCred(cur)
	})
	return srv, h, us, c
}

// refusedFirstLogin hands who's own upstream login over into the fresh credential c and
// checks that it is refused with a message containing why, and that nothing was stored.
func refusedFirstLogin(t *testing.T, srv *oauthserver.Server, h *harness, us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential, who, why string) {
	t.Helper()
	handOverAsUser(t, srv, us, c, who, who+"-upstream")
	testenv.Eventually(t, 30*time.Second, who+"'s hand-over refused", func() (bool, string) {
		cur := getCredential(t, c)
		la := credCondition(cur, mcpv1alpha1.ConditionLoginAccepted)
		return la != nil && la.Status == "False" && strings.Contains(la.Message, why), describeCred(cur)
	})
	if rec, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, c))); err == nil {
		t.Fatalf("%s's fresh credential holds the login of %s after %s's hand-over", c.Name, rec.ObtainedBy, who)
	}
}

// Bob (editor) may request a logout of alice's credential, which clears status.token. The owner
// (status.owner) stays: bob still may not bind himself to it, nor hand his own login into it.
// (Before, he did both: alice's agent wrote into bob's account.)
func TestLogoutByAnotherDoesNotReopenTheCredential(t *testing.T) {
	_, h, ns, us, c, handOverAs := attackSetup(t)
	ctx := context.Background()
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	withBob := func() *mcpv1alpha1.UpstreamCredential {
		cur := getCredential(t, c)
		cur.Spec.Subjects = append(cur.Spec.Subjects, userSubject("bob"))
		return cur
	}
	// The guard holds while alice's login is there.
	checkAdmission(t, bob.Update(ctx, withBob()), "holds the upstream login of alice")

	// 1. Bob logs alice out.
	patch := rawMerge(`{"metadata":{"annotations":{"` + mcpv1alpha1.AnnotationLogoutRequestedAt + `":"bob-was-here"}}}`)
	if err := bob.Patch(ctx, getCredential(t, c), patch); err != nil {
		t.Fatalf("bob may not request a logout of alice's credential (good): %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "alice logged out, status.token cleared", func() (bool, string) {
		cur := getCredential(t, c)
		return cur.Status.LastHandledLogoutRequest == "bob-was-here" && cur.Status.Token == nil, describeCred(cur)
	})

	// 2. The owner stays: bob still may not bind himself to alice's credential,
	checkAdmission(t, bob.Update(ctx, withBob()), "holds the upstream login of alice")

	// 3. nor hand his own upstream login over into it.
	handOverAs("bob", "bob-upstream")
	testenv.Eventually(t, 30*time.Second, "bob's hand-over refused", func() (bool, string) {
		cur := getCredential(t, c)
		la := credCondition(cur, mcpv1alpha1.ConditionLoginAccepted)
		return la != nil && la.Status == "False" && strings.Contains(la.Message, "holds the upstream login of alice"), describeCred(cur)
	})
	if rec, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, c))); err == nil && rec.ObtainedBy == "bob" {
		t.Fatalf("alice's agent acts upstream as bob after bob logged alice out (%s/%s)", ns, c.Name)
	}
}

func hasSA(c *mcpv1alpha1.UpstreamCredential, ns, name string) bool {
	for _, s := range c.Spec.Subjects {
		if s == saSubject(ns, name) {
			return true
		}
	}
	return false
}

// A credential deleted without its finalizer (bob, an editor, strips it: nothing revokes) and
// created again under the same name, bound only to bob, does not find alice's login: the store
// key carries the credential's UID. (Before, bob acted upstream as alice.)
func TestRecreatedCredentialDoesNotInheritTheDeletedLogin(t *testing.T) {
	srv, h, ns, us, c, _ := attackSetup(t)
	ctx := context.Background()
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	old := getCredential(t, c)
	held, err := h.Store.Load(credentialKey(get(t, us), old))
	if err != nil {
		t.Fatal(err)
	}
	revocations := srv.Stats().Revocations

	if err := bob.Patch(ctx, old, rawMerge(`{"metadata":{"finalizers":null}}`)); err != nil {
		t.Fatalf("bob may not strip the finalizer (good): %v", err)
	}
	if err := bob.Delete(ctx, old); err != nil {
		t.Fatalf("bob may not delete (good): %v", err)
	}
	testenv.Eventually(t, 20*time.Second, "gh-alice gone", func() bool { return gone(t, old) })

	mine := &mcpv1alpha1.UpstreamCredential{}
	mine.Namespace, mine.Name = ns, old.Name
	mine.Spec = mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: us.Name},
		Subjects: []mcpv1alpha1.CredentialSubject{userSubject("bob")}}
	if err := bob.Create(ctx, mine); err != nil {
		t.Fatalf("bob may not create his own credential: %v", err)
	}
	var cur *mcpv1alpha1.UpstreamCredential
	testenv.Eventually(t, 30*time.Second, "the new gh-alice settles", func() (bool, string) {
		cur = &mcpv1alpha1.UpstreamCredential{}
		if err := apiClient.Get(ctx, client.ObjectKeyFromObject(mine), cur); err != nil {
			return false, err.Error()
		}
		return cur.UID != old.UID && cur.Status.ObservedGeneration == cur.Generation && credCondition(cur, mcpv1alpha1.ConditionReady) != nil, describeCred(cur)
	})
	rec, err := h.Store.Load(credentialKey(get(t, us), cur))
	t.Logf("new credential (uid %s, subjects %v): Ready=%s token=%+v; record err=%v", cur.UID, cur.Spec.Subjects, credReadyReason(cur), cur.Status.Token, err)
	if err == nil && rec.ObtainedBy == "alice" && rec.ObtainedAt.Equal(held.ObtainedAt) {
		t.Errorf("bob's new credential %s (subjects: bob only) holds alice's login; revocations at the AS: %d -> %d",
			cur.Name, revocations, srv.Stats().Revocations)
	}
}

// Bob (editor) edits the PerSubject server so that every credential's pass connects without a
// token, which clears status.token. The owner (status.owner) stays, so he still may not add
// himself to alice's credential. (Before, he did, put the server back, and acted as alice.)
func TestServerEditDoesNotClearTheCredentialsOwner(t *testing.T) {
	_, h, _, us, c, _ := attackSetup(t)
	ctx := context.Background()
	bob := testenv.ClientAs(t, "bob", "system:authenticated")
	withBob := func() *mcpv1alpha1.UpstreamCredential {
		cur := getCredential(t, c)
		cur.Spec.Subjects = append(cur.Spec.Subjects, userSubject("bob"))
		return cur
	}
	checkAdmission(t, bob.Update(ctx, withBob()), "holds the upstream login of alice")
	held, err := h.Store.Load(credentialKey(get(t, us), getCredential(t, c)))
	if err != nil {
		t.Fatal(err)
	}

	if err := bob.Patch(ctx, get(t, us), rawMerge(`{"spec":{"headers":[{"name":"X-Nothing","value":"x"}]}}`)); err != nil {
		t.Fatalf("bob may not edit the server: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "gh-alice's status.token cleared", func() (bool, string) {
		cur := getCredential(t, c)
		return cur.Status.Token == nil, describeCred(cur)
	})
	// The owner stays while the token's status is gone: bob still may not bind himself.
	checkAdmission(t, bob.Update(ctx, withBob()), "holds the upstream login of alice")
	_ = held
}
