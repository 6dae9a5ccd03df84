package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// createPerSubjectServer creates an UpstreamServer with credentialMode PerSubject.
func createPerSubjectServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       mcpv1alpha1.UpstreamServerSpec{URL: url, CredentialMode: mcpv1alpha1.CredentialModePerSubject},
	}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// createCredential creates an UpstreamCredential for server, usable by subjects (userSubject,
// saSubject: credential_admission_test.go).
func createCredential(t *testing.T, ns, name, server string, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	c := &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: server}, Subjects: subjects},
	}
	if err := apiClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// getCredential reads the credential from the API server (not a cache).
func getCredential(t *testing.T, c *mcpv1alpha1.UpstreamCredential) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	out := &mcpv1alpha1.UpstreamCredential{}
	if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(c), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Named predicates over a credential's status, read from the API server.
func credCondition(c *mcpv1alpha1.UpstreamCredential, typ string) *metav1.Condition {
	return meta.FindStatusCondition(c.Status.Conditions, typ)
}

// credVerified: Ready, because the MCP server accepted the current token.
func credVerified(c *mcpv1alpha1.UpstreamCredential) bool {
	r := credCondition(c, mcpv1alpha1.ConditionReady)
	return r != nil && r.Status == metav1.ConditionTrue && r.Reason == mcpv1alpha1.ReasonVerified && r.ObservedGeneration == c.Generation
}

func credNeedsLogin(c *mcpv1alpha1.UpstreamCredential, reason string) bool {
	a := credCondition(c, mcpv1alpha1.ConditionAuthorizationRequired)
	return a != nil && a.Status == metav1.ConditionTrue && (reason == "" || a.Reason == reason)
}

func credReadyReason(c *mcpv1alpha1.UpstreamCredential) string {
	if r := credCondition(c, mcpv1alpha1.ConditionReady); r != nil {
		return string(r.Status) + "/" + r.Reason
	}
	return ""
}

func waitCredVerified(t *testing.T, c *mcpv1alpha1.UpstreamCredential, timeout time.Duration) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	var cur *mcpv1alpha1.UpstreamCredential
	testenv.Eventually(t, timeout, c.Name+" Ready (Verified)", func() bool { cur = getCredential(t, c); return credVerified(cur) })
	return cur
}

func describeCred(c *mcpv1alpha1.UpstreamCredential) string {
	s := ""
	for _, x := range c.Status.Conditions {
		s += fmt.Sprintf("%s=%s(%s: %s) ", x.Type, x.Status, x.Reason, x.Message)
	}
	return s
}

// counts is a PerSubject server's status.credentials, as "total/ready/authorizationRequired/failing".
func counts(us *mcpv1alpha1.UpstreamServer) string {
	n := us.Status.Credentials
	if n == nil {
		return "none"
	}
	return fmt.Sprintf("%d/%d/%d/%d", n.Total, n.Ready, n.AuthorizationRequired, n.Failing)
}

func waitCounts(t *testing.T, us *mcpv1alpha1.UpstreamServer, want string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, us.Name+" counts credentials "+want, func() bool { return counts(get(t, us)) == want })
}

func ownedByServer(c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) bool {
	for _, o := range c.OwnerReferences {
		if o.Kind == "UpstreamServer" && o.Name == us.Name && o.UID == us.UID {
			return true
		}
	}
	return false
}

// annotateCred sets one annotation on the credential.
func annotateCred(t *testing.T, c *mcpv1alpha1.UpstreamCredential, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if err := apiClient.Patch(context.Background(), getCredential(t, c), rawMerge(patch)); err != nil {
		t.Fatal(err)
	}
}

// gone reports whether obj no longer exists on the API server.
func gone(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

func credentialKey(us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential) tokenstore.Key {
	return upstream.CredentialStoreKey(us, c)
}
