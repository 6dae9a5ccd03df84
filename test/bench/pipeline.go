package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
// It is the ceiling the controller's burst is compared with. Its servers are suspended and
// deleted again before any controller runs.
//
// With no like, each worker patches a server with no status but the token's: the least a patch
// can cost. With like (servers of the fleet), each worker's server is a copy of one of them,
// with its spec, annotations and whole status, so each patch costs the API server what a
// refresh of the fleet costs it (it decodes, validates and encodes the whole object, managed
// fields included).
func (a *authServer) rawPipeline(c client.Client, dir string, workers int, d time.Duration, like []mcpv1alpha1.UpstreamServer) (pipelineRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	shape := "minimal"
	if len(like) > 0 {
		shape = "fleet"
	}
	store, err := tokenstore.Open(filepath.Join(dir, "raw-pipeline-"+shape, "tokens.db"), tokenstore.Options{})
	if err != nil {
		return pipelineRun{}, err
	}
	defer func() { _ = store.Close() }()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rawPipelineNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return pipelineRun{}, err
	}
	servers := make([]*mcpv1alpha1.UpstreamServer, workers)
	grants := make([]*grant, workers)
	for i := range workers {
		us, err := pipelineServer(ctx, c, fmt.Sprintf("raw-%s-%03d", shape, i), a.Issuer()+"/mcp", like, i)
		if us != nil {
			defer func() { _ = c.Delete(context.Background(), us) }()
		}
		if err != nil {
			return pipelineRun{}, err
		}
		servers[i] = us
		if grants[i], err = a.mint(ctx, fmt.Sprintf("%s%03d", rawClientPrefix, i)); err != nil {
			return pipelineRun{}, fmt.Errorf("minting a grant for the raw pipeline: %w", err)
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
		return pipelineRun{}, errors.Join(errors.New("the raw pipeline completed no refresh"), firstErr)
	}
	run := pipelineRun{refreshes: int(done.Load()), rate: float64(done.Load()) / time.Since(start).Seconds()}
	if err := c.Get(ctx, client.ObjectKeyFromObject(servers[0]), servers[0]); err == nil {
		b, _ := json.Marshal(servers[0])
		run.objectBytes = len(b)
	}
	return run, nil
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
		// What a routine refresh changes in status, in one merge patch: the token's expiry and
		// refresh time, the next refresh and the correlation ID (the fleet's servers have them).
		patch := client.MergeFrom(us.DeepCopy())
		if us.Status.Token == nil {
			us.Status.Token = &mcpv1alpha1.TokenStatus{}
		}
		us.Status.Token.ExpiresAt, us.Status.Token.LastRefreshTime = &metav1.Time{Time: next.Expiry}, &metav1.Time{Time: rec.RefreshedAt}
		if us.Status.Refresh != nil {
			us.Status.Refresh.NextRefreshTime = &metav1.Time{Time: next.Expiry.Add(-15 * time.Second)}
		}
		if us.Status.LastCorrelationID != "" {
			us.Status.LastCorrelationID = uuid.NewString()
		}
		if err := c.Status().Patch(ctx, us, patch); err != nil {
			return err
		}
		done.Add(1)
	}
	return nil
}

// pipelineRun is what a raw pipeline measured: its refreshes, their rate, and the JSON size
// of a server it patched, as the API server holds it at the end (managed fields included).
type pipelineRun struct {
	refreshes   int
	rate        float64
	objectBytes int
}

// pipelineServer creates worker i's server: a bare suspended one, or a suspended copy of one
// of like (spec, labels, annotations, then its status in one patch). Finalizers are left out,
// so that deleting it needs no controller.
func pipelineServer(ctx context.Context, c client.Client, name, url string, like []mcpv1alpha1.UpstreamServer, i int) (*mcpv1alpha1.UpstreamServer, error) {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: rawPipelineNamespace, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url, Suspend: true}}
	var status *mcpv1alpha1.UpstreamServerStatus
	if len(like) > 0 {
		src := like[i%len(like)].DeepCopy()
		us.Labels, us.Annotations, us.Spec = src.Labels, src.Annotations, src.Spec
		us.Spec.Suspend = true
		status = &src.Status
	}
	if err := c.Create(ctx, us); err != nil {
		return nil, err
	}
	if status == nil {
		return us, nil
	}
	patch := client.MergeFrom(us.DeepCopy())
	us.Status = *status
	if err := c.Status().Patch(ctx, us, patch); err != nil {
		return us, fmt.Errorf("copying a fleet server's status for the raw pipeline: %w", err)
	}
	return us, nil
}

// fleetPipeline runs the raw pipeline on copies of the fleet's servers. It runs while the
// manager is down (before the catch-up), so that nothing else asks the machine for CPU.
func (r *nRun) fleetPipeline() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var like mcpv1alpha1.UpstreamServerList
	if err := r.c.List(ctx, &like, client.InNamespace(benchNamespace), client.Limit(int64(r.cfg.MaxConcurrentReconciles))); err != nil {
		return err
	}
	if len(like.Items) == 0 {
		return errors.New("no server of the fleet to copy")
	}
	b, _ := json.Marshal(like.Items[0])
	r.res.FleetObjectBytes = len(b)
	prof := profileAPIServer(r.cfg, r.kube, r.cfg.RawDuration)
	before := sampleCPU(nil)
	run, err := r.a.rawPipeline(r.c, r.dir, r.cfg.MaxConcurrentReconciles, r.cfg.RawDuration, like.Items)
	if err != nil {
		return fmt.Errorf("raw pipeline on the fleet's servers: %w", err)
	}
	r.res.RawPipelineFleet = run.rate
	r.res.RawPipelineFleetCPU = cpuPerRefresh(cpuUse(before, sampleCPU(nil)), run.refreshes)
	prof.write(r.cfg, r.dir, fmt.Sprintf("apiserver-n%d-raw-pipeline-fleet", r.n))
	logf(r.cfg, "N=%d: raw pipeline on copies of the fleet's servers (copies %d bytes, the fleet's %d, bare ones %d): %.0f refreshes/s; CPU per refresh: %s",
		r.n, run.objectBytes, r.res.FleetObjectBytes, r.res.RawObjectBytes, run.rate, cpuCell(r.res.RawPipelineFleetCPU))
	return nil
}
