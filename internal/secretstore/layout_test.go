package secretstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// A record's Secret: named after its storage key, typed, labelled for its server, and holding
// only the sealed bytes, which bbolt opens as they are (the same envelope).
func TestSecretHoldsTheSameSealedBytesAsBolt(t *testing.T) {
	cs := clientset(t, testenv.Current().Config)
	ns, keys := newNamespace(t), storetest.KeyFile(t, 1)
	s := open(t, cs, ns, keys)
	k := storetest.TestKey("layout")
	rev, err := s.Save(k, storetest.TestRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := k.StorageKey()
	prefix, _ := tokenstore.ServerPrefix(k.Namespace, k.Name)
	sec, err := cs.CoreV1().Secrets(ns).Get(context.Background(), secretstore.SecretName(sk), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the record's Secret: %v", err)
	}
	if sec.Type != secretstore.SecretType || sec.Labels[secretstore.ServerLabel] != secretstore.ServerLabelValue(prefix) ||
		sec.Annotations[secretstore.KeyAnnotation] != sk || len(sec.Data) != 1 {
		t.Fatalf("Secret %s: type %s, labels %v, annotations %v, %d data keys", sec.Name, sec.Type, sec.Labels, sec.Annotations, len(sec.Data))
	}
	whole, _ := json.Marshal(sec)
	if storetest.ContainsSecret(string(whole)) {
		t.Fatal("the Secret holds a token in the clear")
	}
	sealed, err := tokenstore.ParseSealed(sk, sec.Data[secretstore.DataKey])
	if err != nil || sealed.Revision != rev {
		t.Fatalf("ParseSealed = %v, %v; want revision %d", sealed, err, rev)
	}
	bolt, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{KeyFile: keys, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	if _, err := bolt.PutSealed(sealed); err != nil {
		t.Fatal(err)
	}
	fromBolt, err := bolt.Load(k)
	fromSecret, _ := s.Load(k)
	if err != nil || !reflect.DeepEqual(fromBolt, fromSecret) {
		t.Fatalf("bbolt opens the Secret's bytes as %v, %v; want %v", fromBolt, err, fromSecret)
	}
}

// Hand-made token Secrets (junk data, or a record's value replayed under another record's
// name) are reported as corrupt records, alone, and never crash the store or hide a record.
func TestJunkAndReplayedSecretsAreReportedAlone(t *testing.T) {
	cs := clientset(t, testenv.Current().Config)
	ns, keys := newNamespace(t), storetest.KeyFile(t, 1)
	s := open(t, cs, ns, keys)
	good, junk, replayed := storetest.TestKey("good"), storetest.TestKey("junk"), storetest.TestKey("replayed")
	rev, err := s.Save(good, storetest.TestRecord(good), 0)
	if err != nil {
		t.Fatal(err)
	}
	goodSK, _ := good.StorageKey()
	stored, err := cs.CoreV1().Secrets(ns).Get(context.Background(), secretstore.SecretName(goodSK), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plant := func(k tokenstore.Key, value []byte) {
		sk, _ := k.StorageKey()
		prefix, _ := tokenstore.ServerPrefix(k.Namespace, k.Name)
		_, err := cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secretstore.SecretName(sk), Namespace: ns,
				Labels:      map[string]string{secretstore.ServerLabel: secretstore.ServerLabelValue(prefix)},
				Annotations: map[string]string{secretstore.KeyAnnotation: sk}},
			Type: secretstore.SecretType, Data: map[string][]byte{secretstore.DataKey: value},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	plant(junk, []byte("junk"))
	plant(replayed, stored.Data[secretstore.DataKey])
	for _, k := range []tokenstore.Key{junk, replayed} {
		testenv.Eventually(t, 10*time.Second, "the planted Secret reported as corrupt", func() (bool, string) {
			_, err := s.Load(k)
			return errors.Is(err, tokenstore.ErrCorruptRecord), "Load: " + errString(err)
		})
		if _, err := s.Save(k, storetest.TestRecord(k), 0); !errors.Is(err, tokenstore.ErrCorruptRecord) && !errors.Is(err, tokenstore.ErrConflict) {
			t.Errorf("Save over a planted Secret = %v", err)
		}
	}
	if r, err := s.Load(good); err != nil || r.Revision != rev {
		t.Fatalf("the good record: %v, %v", r, err)
	}
	exported, err := s.ExportSealed()
	if len(exported) != 1 || exported[0].Key != good || !errors.Is(err, tokenstore.ErrCorruptRecord) {
		t.Fatalf("ExportSealed = %v, %v; want the good record, the junk and the replayed one reported", exported, err)
	}
	// A restarted store starts with them in place; DeleteServer clears the junk.
	s2 := open(t, cs, ns, keys)
	if n, err := s2.DeleteServer(junk.Namespace, junk.Name); err != nil || n != 1 {
		t.Fatalf("DeleteServer of the junk = %d, %v", n, err)
	}
	if _, err := s2.Save(junk, storetest.TestRecord(junk), 0); err != nil {
		t.Fatalf("Save after clearing the junk: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// The store works with config/rbac/token_store's Role alone (generated from the markers), in
// its namespace only.
func TestStoreRunsOnItsGeneratedRole(t *testing.T) {
	env := testenv.Current()
	admin := clientset(t, env.Config)
	ns, keys := newNamespace(t), storetest.KeyFile(t, 1)
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "rbac", "token_store", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatal(err)
	}
	role.Namespace = ns
	ctx := context.Background()
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const user = "token-store-manager"
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "token-store", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cs := clientset(t, cfg)
	kr, err := tokenstore.LoadKeyring(keys, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	var s *secretstore.Store
	testenv.Eventually(t, 10*time.Second, "the Role to take effect", func() (bool, string) {
		s, err = secretstore.New(cs, secretstore.Options{Namespace: ns, Keys: kr})
		return err == nil, errString(err)
	})
	defer s.Close()
	k := storetest.TestKey("rbac")
	rev, err := s.Save(k, storetest.TestRecord(k), 0)
	if err == nil {
		rev, err = s.Save(k, storetest.TestRecord(k), rev)
	}
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := s.Reseal(); err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	exported, err := s.ExportSealed()
	if err != nil || len(exported) != 1 {
		t.Fatalf("ExportSealed = %v, %v", exported, err)
	}
	if err := s.Delete(k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.PutSealed(exported[0]); err != nil {
		t.Fatalf("PutSealed: %v", err)
	}
	if n, err := s.DeleteServer(k.Namespace, k.Name); err != nil || n != 1 {
		t.Fatalf("DeleteServer = %d, %v", n, err)
	}
	// Nothing outside its namespace.
	if _, err := secretstore.New(cs, secretstore.Options{Namespace: newNamespace(t), Keys: kr}); err == nil {
		t.Fatal("the Role let the store list Secrets in another namespace")
	}
}
