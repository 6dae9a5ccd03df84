package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// Labelled junk costs the cache its names, and not its metadata either. A user allowed verb
// login on one server (the shipped editor role; the login-handover policy installed) creates
// hand-overs of the right type, label and created-by annotation, padded in metadata: a 250 KiB
// annotation and 2,000 data keys (key names do not count toward the 1 MiB data limit, and
// managedFields lists each one), each kept by a finalizer of her own after the manager deletes
// it. The cache keeps only what the controller reads from it, so the heap stays flat.
func TestPaddedHandOverMetadataCostsTheCacheNothing(t *testing.T) {
	const (
		decoys   = 24
		keys     = 2000
		keyLen   = 240
		annBytes = 250 << 10
	)
	env := testenv.Current()
	ctx := context.Background()
	ns := testenv.NewNamespace(t, "metadecoys")
	testenv.InstallHandOverPolicy(t, ns)
	tenant := ordinaryTenant(t, ns, "mallory")
	login := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "login-victim", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			Verbs: []string{"login"}, ResourceNames: []string{"victim"}}}}
	lb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "login-victim-mallory", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: login.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "mallory"}}}
	for _, o := range []client.Object{login, lb} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	m := testenv.StartManager(t, testenv.ManagerOptions{NoSync: true})
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "http://127.0.0.1:1/mcp"}}
	if err := env.Client.Create(ctx, us); err != nil {
		t.Fatal(err)
	}
	m.WaitReconciled(t, us, 0, 60*time.Second)
	cached := func() (n, terminating int, err error) {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := m.GetCache().List(ctx, list, client.InNamespace(ns)); err != nil {
			return 0, 0, err
		}
		for _, s := range list.Items {
			if strings.HasPrefix(s.Name, "login-") {
				n++
				if s.DeletionTimestamp != nil {
					terminating++
				}
			}
		}
		return n, terminating, nil
	}
	if _, _, err := cached(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the tenant's Role to be in force", func() (bool, string) {
		err := tenant.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
		return err == nil, fmt.Sprint(err)
	})
	before := liveHeap()

	pad := strings.Repeat("m", annBytes)
	for i := range decoys {
		data := make(map[string][]byte, keys)
		for k := range keys {
			name := fmt.Sprintf("k%02d-%05d-", i, k)
			data[name+strings.Repeat("x", keyLen-len(name))] = nil
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("login-%02d", i), Namespace: ns,
			Labels:      map[string]string{mcpv1alpha1.HandOverServerLabel: us.Name},
			Annotations: map[string]string{mcpv1alpha1.AnnotationCreatedBy: "mallory", "decoy.example/pad": pad},
			Finalizers:  []string{tenantFinalizer}},
			Type: corev1.SecretType(mcpv1alpha1.HandOverSecretType), Data: data}
		if err := tenant.Create(ctx, s); err != nil {
			t.Fatalf("mallory (login on victim, policy installed) creating decoy %s: %v", s.Name, err)
		}
	}
	testenv.Eventually(t, 90*time.Second, "the manager's cache to hold every decoy, and reject some", func() (bool, string) {
		n, term, err := cached()
		return err == nil && n == decoys && term > 0, fmt.Sprintf("cached %d terminating %d %v", n, term, err)
	})
	after := liveHeap()
	// The cache kept none of the padding. (It once did in one run out of two: the typed and the
	// metadata Secret settings are one entry keyed by GVK, and the one without the transform
	// won half the time.)
	if _, err := cacheEntry(ctx, m, ns, "login-00"); err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, l := range m.Logs() {
		if strings.Contains(l, "Rejected a login hand-over") && strings.Contains(l, `"secret"="login-00"`) {
			again++
		}
	}
	t.Logf("decoy login-00 (terminating, kept by the tenant's finalizer) was read and rejected %d times", again)
	meta := uint64(decoys * (annBytes + keys*keyLen))
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d decoys with %s of metadata each (no data): live heap %s -> %s (%+.1f MiB)",
		decoys, mib(uint64(annBytes+keys*keyLen)), mib(before.HeapAlloc), mib(after.HeapAlloc), float64(grew)/(1<<20))
	// Control: the tenant drops her finalizers; once the decoys are gone from the cache the heap
	// falls back, so the growth was the cached metadata.
	for i := range decoys {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("login-%02d", i), Namespace: ns}}
		if err := tenant.Patch(ctx, s, patch); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("the tenant removing her finalizer from %s: %v", s.Name, err)
		}
	}
	testenv.Eventually(t, 60*time.Second, "the decoys to leave the cache", func() (bool, string) {
		n, _, err := cached()
		return err == nil && n == 0, fmt.Sprintf("cached %d %v", n, err)
	})
	gone := liveHeap()
	t.Logf("after the decoys are gone: live heap %s (%+.1f MiB from the peak)", mib(gone.HeapAlloc),
		float64(int64(gone.HeapAlloc)-int64(after.HeapAlloc))/(1<<20))
	if grew > int64(meta/2) {
		t.Errorf("the manager's live heap grew by %.1f MiB for %d labelled hand-overs carrying %.1f MiB of metadata "+
			"(annotations + managedFields): the cache holds what a tenant chooses",
			float64(grew)/(1<<20), decoys, float64(meta)/(1<<20))
	}
}

// cacheEntry checks that the manager's cache kept none of a decoy's padding.
func cacheEntry(ctx context.Context, m *testenv.Manager, ns, name string) (*metav1.PartialObjectMetadata, error) {
	got := &metav1.PartialObjectMetadata{}
	got.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := m.GetCache().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got); err != nil {
		return nil, err
	}
	if len(got.Annotations) > 0 || len(got.ManagedFields) > 0 || len(got.Finalizers) > 0 {
		return nil, fmt.Errorf("the cache kept %d annotations, %d managedFields entries, %d finalizers of %s",
			len(got.Annotations), len(got.ManagedFields), len(got.Finalizers), name)
	}
	return got, nil
}
