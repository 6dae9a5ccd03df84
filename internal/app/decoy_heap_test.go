package app_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

const (
	// decoyBytes is the data of one decoy: the API server's limit for one Secret.
	decoyBytes = corev1.MaxSecretSize
	// decoysPerKind of each kind of decoy; four kinds, 48 MiB in all (modest, for CI).
	decoysPerKind = 12
	// tenantFinalizer is the attacker's own finalizer: it keeps a decoy in the API server (and
	// in any cache that holds it) after the manager deletes it.
	tenantFinalizer = "tenant.example/keep"
)

// decoyKind is one way a tenant can put a labelled Secret where the manager's cache looks.
type decoyKind struct {
	name, server, key string
	typ               corev1.SecretType
}

// decoyKinds are what an ordinary tenant (Secrets in its own namespace, nothing else) can do
// in a cluster without the hand-over admission policy. All but one carry the hand-over type, so
// that a cache that also selects by type sees them; with the policy, only the first is admitted,
// and only from someone allowed to log in to the server: one kind is enough.
func decoyKinds(server string) []decoyKind {
	login := corev1.SecretType(mcpv1alpha1.HandOverSecretType)
	return []decoyKind{
		// Real hand-over candidates: listed, read whole from the API server, rejected, deleted.
		{name: "login", server: server, key: mcpv1alpha1.HandOverDataKey, typ: login},
		// Naming a server that does not exist: deleted as orphans, never read.
		{name: "orphan", server: "no-such-server", key: mcpv1alpha1.HandOverDataKey, typ: login},
		// Naming nothing: the label is there (the cache selects it), no reconcile ever comes.
		{name: "nameless", server: "", key: mcpv1alpha1.HandOverDataKey, typ: login},
		// The label without the type: read and rejected if the cache holds it, else never seen.
		{name: "opaque", server: server, key: "junk", typ: corev1.SecretTypeOpaque},
	}
}

// The manager caches hand-over Secrets by metadata only: a tenant who labels many large Secrets
// mcpproxy.dev/upstream-server costs the manager their names, not their data. Against the real
// wiring (internal/app), a tenant creates 48 labelled Secrets of 1 MiB each, of every kind the
// manager treats differently, each with a finalizer of its own so that the manager's deletes
// leave it in place. Once the manager's cache holds all of them and the reconciler has looked at
// the server since, the manager's live heap has grown by far less than their data. With full
// Secrets in the cache (controllers/setup.go watching &corev1.Secret{} with Watches, as before
// the fix) it grows by about their total.
func TestLabelledJunkSecretsCostTheCacheTheirNamesNotTheirData(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	ns := testenv.NewNamespace(t, "decoys")
	tenant := ordinaryTenant(t, ns, "mallory")

	m := testenv.StartManager(t, testenv.ManagerOptions{NoSync: true}) // the whole cluster, as deployed
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "http://127.0.0.1:1/mcp"}} // refused at once: no worker waits
	if err := env.Client.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	m.WaitReconciled(t, us, 0, 60*time.Second)
	cached := func() (all, terminating map[string]int, err error) {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := m.GetCache().List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, nil, err
		}
		all, terminating = map[string]int{}, map[string]int{}
		for _, s := range list.Items {
			// The cache keeps no annotations: the kind is the name's prefix ("<kind>-NN").
			kind := s.Name[:max(0, strings.LastIndexByte(s.Name, '-'))]
			all[kind]++
			if s.DeletionTimestamp != nil {
				terminating[kind]++
			}
		}
		return all, terminating, nil
	}
	// Everything the test itself keeps (the payload, the tenant's client and its discovery,
	// the cache's informer) exists before the baseline.
	payload := bytes.Repeat([]byte("junk"), decoyBytes/4)
	if _, _, err := cached(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the tenant's Role to be in force", func() (bool, string) {
		err := tenant.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
		return err == nil, fmt.Sprint(err)
	})
	before := liveHeap()

	kinds := decoyKinds(us.Name)
	for _, k := range kinds {
		for i := range decoysPerKind {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%02d", k.name, i), Namespace: ns,
				Labels:      map[string]string{mcpv1alpha1.HandOverServerLabel: k.server},
				Annotations: map[string]string{"decoy.example/kind": k.name},
				Finalizers:  []string{tenantFinalizer}},
				Type: k.typ, Data: map[string][]byte{k.key: payload}}
			if err := tenant.Create(ctx, s); err != nil {
				t.Fatalf("the tenant creating decoy %s: %v", s.Name, err)
			}
		}
	}
	total := len(kinds) * decoysPerKind
	testenv.Eventually(t, 60*time.Second, "the manager's cache to hold every decoy of the hand-over type", func() (bool, string) {
		all, _, err := cached()
		return err == nil && all["login"] == decoysPerKind && all["orphan"] == decoysPerKind && all["nameless"] == decoysPerKind,
			fmt.Sprintf("%v %v", all, err)
	})
	testenv.Eventually(t, 60*time.Second, "the manager to delete every orphan (the finalizer keeps them)", func() (bool, string) {
		_, terminating, err := cached()
		return err == nil && terminating["orphan"] == decoysPerKind, fmt.Sprintf("terminating %v %v", terminating, err)
	})
	// A reconcile of the server that starts now lists every candidate and reads them from the
	// API server: the reads are part of what is measured.
	mark := m.ReconcileMark(us)
	poke := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"test/poke":"decoys"}}}`))
	if err := env.Client.Patch(ctx, us.DeepCopy(), poke); err != nil {
		t.Fatal(err)
	}
	m.WaitReconciled(t, us, mark, 60*time.Second)
	all, terminating, err := cached()
	if err != nil {
		t.Fatal(err)
	}
	if terminating["login"] == 0 {
		t.Fatalf("the reconciler rejected none of the candidates naming the server: cached %v, terminating %v", all, terminating)
	}
	after := liveHeap()

	data := uint64(total * decoyBytes)
	grewAlloc, grewInuse := int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(after.HeapInuse)-int64(before.HeapInuse)
	t.Logf("%d decoys, %d MiB of data (cached %v, terminating %v): live heap %s → %s (%+.1f MiB), in use %s → %s (%+.1f MiB)",
		total, data>>20, all, terminating, mib(before.HeapAlloc), mib(after.HeapAlloc), float64(grewAlloc)/(1<<20),
		mib(before.HeapInuse), mib(after.HeapInuse), float64(grewInuse)/(1<<20))
	if limit := int64(data / 4); grewAlloc >= limit {
		t.Errorf("the live heap grew by %.1f MiB with %d MiB of labelled decoys in the cluster (limit %d MiB): "+
			"the manager holds their data, not only their metadata", float64(grewAlloc)/(1<<20), data>>20, limit>>20)
	}
}

// ordinaryTenant is a user who may create and read Secrets in ns, and nothing else: the
// built-in edit role's Secret rights, no UpstreamServer verb.
func ordinaryTenant(t *testing.T, ns, user string) client.Client {
	t.Helper()
	c := testenv.Current().Client
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secrets", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			Verbs: []string{"create", "get", "list", "watch", "update", "patch", "delete"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "secrets-" + user, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	return testenv.ClientAs(t, user)
}

// liveHeap collects garbage and returns the heap that is left: what this process (the manager
// and the test) holds.
func liveHeap() runtime.MemStats {
	runtime.GC()
	runtime.GC() // the first may leave objects with finalizers for the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
