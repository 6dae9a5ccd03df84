package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// The manager on --token-store-backend=secrets: a login lands in a Secret of the store's
// namespace (none in the server's), refreshes replace it, a restarted manager is Ready on it
// without a new login, and deleting the server deletes the Secret (its finalizer's DeleteServer).
func TestManagerOnTheSecretsBackend(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 4 * time.Second})
	ns, storeNS := testenv.NewNamespace(t, "servers"), testenv.NewNamespace(t, "tokens")
	opts := testenv.ManagerOptions{Namespace: ns, TokenStoreBackend: app.StoreBackendSecrets,
		TokenStoreNamespace: storeNS, KeyFile: storetest.KeyFile(t, 1)}
	m := testenv.StartManager(t, opts)
	if _, ok := m.Store.(*secretstore.Store); !ok {
		t.Fatalf("the manager's store is a %T", m.Store)
	}
	c := testenv.Current().Client
	us := readyServer(t, srv, ns, "demo")
	key := upstream.StoreKey(us)
	first, err := m.Store.Load(key)
	if err != nil {
		t.Fatalf("the login is not in the store: %v", err)
	}
	if n := tokenSecrets(t, storeNS); n != 1 {
		t.Fatalf("%d token Secrets in the store's namespace, want 1", n)
	}
	if n := tokenSecrets(t, ns); n != 0 {
		t.Fatalf("%d token Secrets in the server's namespace", n)
	}
	testenv.Eventually(t, 30*time.Second, "a refresh saved over the login", func() bool {
		r, err := m.Store.Load(key)
		return err == nil && r.RefreshCount > first.RefreshCount && r.Revision > first.Revision
	})
	// Neither the Secrets nor the manager's log show a token.
	var list corev1.SecretList
	if err := c.List(context.Background(), &list, client.InNamespace(storeNS)); err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(list)
	logs := strings.Join(m.Logs(), "\n")
	for _, secret := range []string{first.AccessToken, first.RefreshToken} {
		if secret == "" || strings.Contains(string(stored), secret) || strings.Contains(logs, secret) {
			t.Fatal("a token is in the clear in the token Secrets or the manager's log")
		}
	}

	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	m = testenv.StartManager(t, opts)
	rec, err := m.Store.Load(key)
	if err != nil || rec.Revision <= first.Revision {
		t.Fatalf("a restarted manager reads %v, %v", rec, err)
	}
	waitReady(t, us)

	if err := c.Delete(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the token Secret deleted with its server", func() bool { return tokenSecrets(t, storeNS) == 0 })
	if _, err := m.Store.Load(key); err == nil {
		t.Fatal("the deleted server's token still loads")
	} else if !isNotFound(err) {
		t.Fatal(err)
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, tokenstore.ErrNotFound) }

func waitReady(t *testing.T, us *mcpv1alpha1.UpstreamServer) {
	t.Helper()
	c := testenv.Current().Client
	testenv.Eventually(t, 30*time.Second, us.Name+" Ready", func() bool {
		cur := &mcpv1alpha1.UpstreamServer{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(us), cur); err != nil {
			return false
		}
		cond := meta.FindStatusCondition(cur.Status.Conditions, mcpv1alpha1.ConditionReady)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == cur.Generation
	})
}

// tokenSecrets counts the token Secrets in ns, read from the API server.
func tokenSecrets(t *testing.T, ns string) int {
	t.Helper()
	var list corev1.SecretList
	if err := testenv.Current().Client.List(context.Background(), &list, client.InNamespace(ns),
		client.MatchingFields{"type": string(secretstore.SecretType)}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}
