package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

type recordedRefreshes struct {
	mu   sync.Mutex
	reqs []upstream.RefreshRequest
}

func (r *recordedRefreshes) RequestRefresh(req upstream.RefreshRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

// A non-leader's refresh requests become reports of the rejected revision, one patch per object
// per interval however many requests come (folded into one patch carrying the newest revision);
// never the forcing refresh-requested-at, which would pass backoff and a rejected refresh token;
// looks are not forwarded; the leader's go to the reconcilers in process.
func TestLeaderRefresherPatchesOncePerInterval(t *testing.T) {
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
	cred := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	var mu sync.Mutex
	patches := map[string]int{}
	count := func(kind string) int { mu.Lock(); defer mu.Unlock(); return patches[kind] }
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(us, cred).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			mu.Lock()
			kind := "UpstreamServer"
			if _, ok := obj.(*mcpv1alpha1.UpstreamCredential); ok {
				kind = "UpstreamCredential"
			}
			patches[kind+"/"+obj.GetName()]++
			mu.Unlock()
			return c.Patch(ctx, obj, p, opts...)
		},
	}).Build()
	elected := make(chan struct{})
	local := &recordedRefreshes{}
	r := newLeaderRefresher(elected, local, c, logr.Discard())
	r.every = 300 * time.Millisecond
	server := types.NamespacedName{Namespace: "ns", Name: "s"}
	annotation := func(obj client.Object) string {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		if forced := obj.GetAnnotations()[mcpv1alpha1.AnnotationRefreshRequestedAt]; forced != "" {
			t.Fatalf("a non-leader forced a refresh (refresh-requested-at %q)", forced)
		}
		return obj.GetAnnotations()[mcpv1alpha1.AnnotationRejectedRevision]
	}
	idle := func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.pending) == 0 }

	r.RequestRefresh(upstream.RefreshRequest{Server: server}) // a look: not forwarded
	for i := range 50 {
		r.RequestRefresh(upstream.RefreshRequest{Server: server, RejectedRevision: uint64(i + 1)})
	}
	// The first patch may leave while the burst is still coming: the rest folds into one more.
	eventually(t, "the burst's newest revision reported", func() bool { return idle() && annotation(us.DeepCopy()) == "50" })
	base := count("UpstreamServer/s")
	if base > 2 {
		t.Fatalf("%d patches of the server for a burst, want at most 2", base)
	}
	for range 50 {
		r.RequestRefresh(upstream.RefreshRequest{Server: server, RejectedRevision: 60})
	}
	eventually(t, "the second burst's patch", idle)
	if n := count("UpstreamServer/s"); n != base+1 {
		t.Fatalf("%d patches of the server after the second burst, want %d", n, base+1)
	}
	if second := annotation(us.DeepCopy()); second != "60" {
		t.Fatalf("the second patch reports revision %q, want 60", second)
	}

	r.RequestRefresh(upstream.RefreshRequest{Server: server, Credential: "c", RejectedRevision: 3})
	eventually(t, "the credential's patch", idle)
	if n := count("UpstreamCredential/c"); n != 1 || annotation(cred.DeepCopy()) != "3" {
		t.Fatalf("%d patches of the credential, want 1", n)
	}
	if len(local.reqs) != 0 {
		t.Fatalf("a non-leader sent %d requests in process", len(local.reqs))
	}

	close(elected)
	r.RequestRefresh(upstream.RefreshRequest{Server: server, RejectedRevision: 70})
	if len(local.reqs) != 1 || local.reqs[0].RejectedRevision != 70 {
		t.Fatalf("the leader sent %v in process", local.reqs)
	}
	if !idle() || count("UpstreamServer/s") != base+1 {
		t.Fatal("the leader patched the annotation")
	}
}

// eventually polls cond for up to 10s (testenv, which polls alike, imports this package).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
