package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// rawPipelineNamespace holds the raw pipeline's objects, apart from the fleet's.
const rawPipelineNamespace = "bench-raw"

// rawPipeline measures the three I/O steps a refresh needs, with nothing of the controller
// around them: the token request, a save to a bbolt store with fsync, and one status patch of
// an UpstreamServer, one after the other, by workers at once (the controller's concurrency).
// It is the ceiling the controller's burst is compared with. It runs before the manager starts:
// its servers are suspended and deleted again before any controller sees them.
// It returns the refreshes done and their rate.
func (a *authServer) rawPipeline(c client.Client, dir string, workers int, d time.Duration) (int, float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	store, err := tokenstore.Open(filepath.Join(dir, "raw-pipeline", "tokens.db"), tokenstore.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = store.Close() }()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rawPipelineNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return 0, 0, err
	}
	servers := make([]*mcpv1alpha1.UpstreamServer, workers)
	grants := make([]*grant, workers)
	for i := range workers {
		us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: rawPipelineNamespace, Name: fmt.Sprintf("raw-%03d", i)},
			Spec: mcpv1alpha1.UpstreamServerSpec{URL: a.Issuer() + "/mcp", Suspend: true}}
		if err := c.Create(ctx, us); err != nil {
			return 0, 0, err
		}
		defer func() { _ = c.Delete(context.Background(), us) }()
		servers[i] = us
		if grants[i], err = a.mint(ctx, fmt.Sprintf("%s%03d", rawClientPrefix, i)); err != nil {
			return 0, 0, fmt.Errorf("minting a grant for the raw pipeline: %w", err)
		}
	}
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(d)
	for i := range workers {
		wg.Go(func() {
			if err := a.pipelineWorker(ctx, c, store, servers[i], grants[i], fmt.Sprintf("%s%03d", rawClientPrefix, i), stopAt, &done); err != nil {
				once.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	if done.Load() == 0 {
		return 0, 0, errors.Join(errors.New("the raw pipeline completed no refresh"), firstErr)
	}
	return int(done.Load()), float64(done.Load()) / time.Since(start).Seconds(), nil
}

// pipelineWorker refreshes, saves and patches status for one server until stopAt.
func (a *authServer) pipelineWorker(ctx context.Context, c client.Client, store *tokenstore.Store, us *mcpv1alpha1.UpstreamServer,
	g *grant, clientID string, stopAt time.Time, done *atomic.Int64) error {
	key := tokenstore.Key{Namespace: us.Namespace, Name: us.Name, Binding: tokenstore.Binding{ServerURL: us.Spec.URL}}
	var rev uint64
	rt := g.RefreshToken
	for n := int64(1); time.Now().Before(stopAt); n++ {
		next, err := a.refresh(ctx, clientID, rt)
		if err != nil {
			return err
		}
		rt = next.RefreshToken
		rec := &tokenstore.Record{AccessToken: next.AccessToken, RefreshToken: next.RefreshToken, TokenType: next.TokenType,
			Expiry: next.Expiry, ServerURL: us.Spec.URL, TokenEndpoint: a.tokenEndpoint(), RefreshedAt: time.Now(), RefreshCount: n}
		if rev, err = store.Save(key, rec, rev); err != nil {
			return err
		}
		// The status a refresh writes: the token's expiry and refresh time, one merge patch.
		patch := client.MergeFrom(us.DeepCopy())
		us.Status.Token = &mcpv1alpha1.TokenStatus{ExpiresAt: &metav1.Time{Time: next.Expiry}, LastRefreshTime: &metav1.Time{Time: rec.RefreshedAt}}
		if err := c.Status().Patch(ctx, us, patch); err != nil {
			return err
		}
		done.Add(1)
	}
	return nil
}
