package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// reviewCounter is a fake API server counting its reviews; allowed decides each
// SubjectAccessReview, and a review waits for release when it is set.
type reviewCounter struct {
	tokenReviews, accessReviews atomic.Int64
	allowed                     atomic.Bool
	release                     chan struct{}
}

func (rc *reviewCounter) client(t *testing.T) client.Client {
	sch := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(sch).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if rc.release != nil {
				<-rc.release
			}
			switch o := obj.(type) {
			case *authnv1.TokenReview:
				rc.tokenReviews.Add(1)
				o.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "system:serviceaccount:ns:agent", UID: "u"}}
				return nil
			case *authzv1.SubjectAccessReview:
				rc.accessReviews.Add(1)
				o.Status.Allowed = rc.allowed.Load()
				return nil
			}
			return c.Create(ctx, obj, opts...)
		}}).Build()
}

// A SubjectAccessReview's answer is used for at most maxAccessTTL even when AuthCacheTTL is
// longer (a removed RoleBinding takes effect within it), and callers asking the same question
// at the same time cost one review.
func TestAccessAnswersAreBoundedAndShared(t *testing.T) {
	rc := &reviewCounter{}
	rc.allowed.Store(true)
	a := newAuthorizer(rc.client(t), Options{AuthCacheTTL: time.Hour, AuthCacheSize: 100, RejectedTokenCacheSize: 10})
	now := time.Now()
	a.access.now = func() time.Time { return now }
	id := &Identity{Name: "system:serviceaccount:ns:agent", UID: "u", Groups: []string{"b", "a"}}
	nn := types.NamespacedName{Namespace: "ns", Name: "s"}
	ctx := context.Background()

	rc.release = make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if ok, err := a.allowed(ctx, id, nn); !ok || err != nil {
				t.Errorf("allowed: %v, %v", ok, err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let them all ask
	close(rc.release)
	wg.Wait()
	rc.release = nil
	if got := rc.accessReviews.Load(); got != 1 {
		t.Fatalf("64 callers asking at once cost %d SubjectAccessReviews, want 1", got)
	}

	rc.allowed.Store(false) // the RoleBinding is removed
	now = now.Add(maxAccessTTL - time.Millisecond)
	if ok, _ := a.allowed(ctx, id, nn); !ok || rc.accessReviews.Load() != 1 {
		t.Fatalf("within the TTL: allowed %v after %d reviews, want the cached yes", ok, rc.accessReviews.Load())
	}
	now = now.Add(time.Millisecond)
	if ok, _ := a.allowed(ctx, id, nn); ok || rc.accessReviews.Load() != 2 {
		t.Fatalf("after %s: allowed %v after %d reviews, want a new review saying no", maxAccessTTL, ok, rc.accessReviews.Load())
	}
}

// A TokenReview's answer is cached under the token's hash, never the token, and never past
// the token's own expiry.
func TestTokenAnswersAreKeyedByHashAndEndWithTheToken(t *testing.T) {
	rc := &reviewCounter{}
	a := newAuthorizer(rc.client(t), Options{AuthCacheTTL: time.Hour, AuthCacheSize: 100, RejectedTokenCacheSize: 10,
		ReviewRatePerClient: RateLimit{PerSecond: 100, Burst: 100}, ReviewRateTotal: RateLimit{PerSecond: 100, Burst: 100}})
	now := time.Now()
	a.tokens.now = func() time.Time { return now }
	exp := now.Add(90 * time.Second)
	token := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d,"sub":"x"}`, exp.Unix())) + ".sig"
	ctx := context.Background()
	for range 10 {
		if id, err := a.review(ctx, token, "10.0.0.1"); err != nil || id == nil {
			t.Fatalf("review: %v, %v", id, err)
		}
	}
	if got := rc.tokenReviews.Load(); got != 1 {
		t.Fatalf("%d TokenReviews for one token, want 1", got)
	}
	a.tokens.mu.Lock()
	for k := range a.tokens.items {
		if strings.Contains(k, token) || strings.Contains(k, "sig") {
			t.Errorf("the cache key holds the token")
		}
	}
	a.tokens.mu.Unlock()
	now = exp
	if _, err := a.review(ctx, token, "10.0.0.1"); err != nil || rc.tokenReviews.Load() != 2 {
		t.Fatalf("at the token's expiry: %v, %d reviews, want a new one", err, rc.tokenReviews.Load())
	}
}
