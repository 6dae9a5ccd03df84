package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Junk hand-overs must not stand in front of a genuine login. A pass acts on a bounded number
// of hand-overs, oldest first: 16 junk ones kept by someone's finalizer after the manager deleted
// them used to take every pass, and the login behind them was never ingested. Kept ones are now
// skipped, and a pile of plain junk is worked through a few per pass.
func TestJunkHandOversDoNotStarveALogin(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "victim", srv.MCPURL())
	const kept, plain = 16, 20
	for i := range kept + plain {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("junk-%02d", i), Namespace: ns,
			Labels: map[string]string{mcpv1alpha1.HandOverServerLabel: us.Name}},
			Type: mcpv1alpha1.HandOverSecretType, Data: map[string][]byte{mcpv1alpha1.HandOverDataKey: []byte("{}")}}
		if i < kept {
			s.Finalizers = []string{"tenant.example/keep"}
		}
		if err := apiClient.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // let the namespace go
		for i := range kept {
			_ = apiClient.Patch(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("junk-%02d", i), Namespace: ns}},
				rawMerge(`{"metadata":{"finalizers":null}}`))
		}
	})
	testenv.Eventually(t, 60*time.Second, "the manager deletes every junk hand-over", func() (bool, string) {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := apiClient.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		left := 0
		for _, s := range list.Items {
			if s.DeletionTimestamp == nil && s.Labels[mcpv1alpha1.HandOverServerLabel] != "" {
				left++
			}
		}
		return left == 0, fmt.Sprintf("%d not deleted", left)
	})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)
}
