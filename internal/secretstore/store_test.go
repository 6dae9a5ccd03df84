package secretstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.MainOptions{}) }

var nsCount atomic.Int64

// newNamespace creates a namespace of the test's own and returns its name.
func newNamespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("tokens-%d", nsCount.Add(1))
	env := testenv.Current()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func clientset(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit in tests
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// open starts a store on namespace ns (a replica), closed when the test ends.
func open(t testing.TB, cs kubernetes.Interface, ns, keyFile string) *secretstore.Store {
	t.Helper()
	keys, err := tokenstore.LoadKeyring(keyFile, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	s, err := secretstore.New(cs, secretstore.Options{Namespace: ns, Keys: keys})
	if err != nil {
		t.Fatalf("secretstore.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestContract runs the store contract bbolt passes (internal/tokenstore/storetest) against
// Secrets, each case in a namespace of its own.
func TestContract(t *testing.T) {
	cs := clientset(t, testenv.Current().Config)
	namespaces := map[tokenstore.Backend]string{}
	storetest.Run(t, storetest.Fixture{
		Open: func(t *testing.T, keyFile string) tokenstore.Backend {
			ns := newNamespace(t)
			s := open(t, cs, ns, keyFile)
			namespaces[s] = ns
			return s
		},
		Reopen: func(t *testing.T, s tokenstore.Backend, keyFile string) tokenstore.Backend {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := open(t, cs, namespaces[s], keyFile)
			namespaces[s2] = namespaces[s]
			return s2
		},
		Waiters: func(s tokenstore.Backend) int64 { return s.(*secretstore.Store).Waiting() },
	})
}
