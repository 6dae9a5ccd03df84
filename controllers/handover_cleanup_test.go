package controllers_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A hand-over holds plain-text tokens: it must not stay in the namespace when no server will
// ever ingest it, neither for a server whose config cannot be read nor for one that is gone.
// A Secret of another type that merely carries the label is no hand-over: it is left alone.
func TestHandOversThatCannotBeIngestedAreDeleted(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")

	broken := createServer(t, ns, "broken", srv.MCPURL())
	patch := client.MergeFrom(get(t, broken).DeepCopy())
	cur := get(t, broken)
	cur.Spec.Headers = []mcpv1alpha1.HeaderSpec{{Name: "X-Api-Key", ValueFrom: &mcpv1alpha1.HeaderValueSource{
		SecretKeyRef: mcpv1alpha1.SecretKeyReference{Name: "missing", Key: "key"}}}}
	if err := apiClient.Patch(context.Background(), cur, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the config is reported invalid", func() (bool, string) {
		c := condition(get(t, broken), mcpv1alpha1.ConditionAuthenticated)
		return c != nil && c.Reason == mcpv1alpha1.ReasonConfigInvalid, describe(get(t, broken))
	})
	testenv.Login(t, srv, broken)

	gone := createServer(t, ns, "gone", srv.MCPURL())
	fresh := get(t, gone)
	if err := apiClient.Delete(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the server is deleted", func() bool {
		return apierrors.IsNotFound(apiClient.Get(context.Background(), client.ObjectKeyFromObject(fresh), &mcpv1alpha1.UpstreamServer{}))
	})
	// Created before the orphan, so the pass its creation causes sees them too.
	var bystanders []*corev1.Secret
	for _, server := range []string{"gone", "broken"} {
		b := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "bystander-", Namespace: ns,
			Labels: map[string]string{mcpv1alpha1.HandOverServerLabel: server}}, Data: map[string][]byte{"k": []byte("v")}}
		if err := apiClient.Create(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		bystanders = append(bystanders, b)
	}

	orphan := mcpv1alpha1.NewHandOverSecret(fresh, []byte(`{}`))
	orphan.OwnerReferences = nil // its owner is gone; garbage collection does not run in envtest
	orphan.Immutable = ptr.To(true)
	if err := apiClient.Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}

	testenv.Eventually(t, 30*time.Second, "no hand-over left in the namespace", func() (bool, string) {
		var list corev1.SecretList
		if err := apiClient.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{mcpv1alpha1.HandOverServerLabel},
			client.MatchingFields{"type": mcpv1alpha1.HandOverSecretType}); err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, "hand-overs left"
	})
	// The controller has looked at both servers since the bystanders were created.
	mark := h.ReconcileMark(get(t, broken))
	annotate(t, broken, "test/poke", "bystanders")
	h.WaitReconciled(t, get(t, broken), mark, 20*time.Second)
	for _, b := range bystanders {
		if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(b), &corev1.Secret{}); err != nil {
			t.Errorf("the labelled Opaque Secret %s: %v", b.Name, err)
		}
	}
}
