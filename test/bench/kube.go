package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = mcpv1alpha1.AddToScheme(s)
	return s
}()

// benchNamespace holds every server of a run (each N gets its own control plane).
const benchNamespace = "default"

func serverName(i int) string { return fmt.Sprintf("s%05d", i) }

// newClient talks to the API server without client-side throttling: the harness must not be
// what limits seeding.
func newClient(cfg *rest.Config) (client.Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 10000
	return client.New(cfg, client.Options{Scheme: scheme})
}

// readyWatch records, from a watch of UpstreamServers or UpstreamCredentials, when each first
// turned Ready.
type readyWatch struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	cancel  context.CancelFunc
}

// watchReady watches the kind of obj: an UpstreamServer or an UpstreamCredential.
func watchReady(cfg *rest.Config, obj client.Object) (*readyWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(context.Background(), obj)
	if err != nil {
		return nil, err
	}
	w := &readyWatch{readyAt: map[string]time.Time{}}
	see := func(obj any) {
		var name string
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *mcpv1alpha1.UpstreamServer:
			name, conds = o.Name, o.Status.Conditions
		case *mcpv1alpha1.UpstreamCredential:
			name, conds = o.Name, o.Status.Conditions
		default:
			return
		}
		if !meta.IsStatusConditionTrue(conds, mcpv1alpha1.ConditionReady) {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if _, seen := w.readyAt[name]; !seen {
			w.readyAt[name] = now
		}
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: see, UpdateFunc: func(_, o any) { see(o) },
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("the watch of %T did not sync", obj)
	}
	return w, nil
}

func (w *readyWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.readyAt)
}

func (w *readyWatch) at(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.readyAt[name]
	return t, ok
}

// seeded is what the harness knows of one token holder's login: a server's or a credential's.
type seeded struct {
	// name is the object's; holder is what the recorder files its refreshes under (a server's
	// client ID, a credential's name); jitterKey spreads its refresh times in the controller
	// (lifecycle.RefreshTime's key: "namespace/name", "namespace/server:credential").
	name, holder, jitterKey string
	handOverCreated         time.Time
	// issued and expiry are what the controller plans the first refresh by.
	issued, expiry time.Time
}

// seed creates servers from to n-1, each with a hand-over Secret holding tokens from a
// scripted login, with workers in parallel.
func seed(ctx context.Context, c client.Client, a *authServer, from, n, workers int) ([]seeded, error) {
	return parallel(n-from, workers, func(i int) (seeded, error) {
		s, err := seedOne(ctx, c, a, from+i)
		if err != nil {
			return s, fmt.Errorf("seeding %s: %w", serverName(from+i), err)
		}
		return s, nil
	})
}

// parallel runs one(i) for each i < n on workers goroutines, and stops at the first error.
func parallel(n, workers int, one func(i int) (seeded, error)) ([]seeded, error) {
	out := make([]seeded, n)
	idx := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range idx {
				s, err := one(i)
				if err != nil {
					errs <- err
					return
				}
				out[i] = s
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case idx <- i:
		case err = <-errs:
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return out, err
}

func seedOne(ctx context.Context, c client.Client, a *authServer, i int) (seeded, error) {
	us := &mcpv1alpha1.UpstreamServer{
		ObjectMeta: metav1.ObjectMeta{Name: serverName(i), Namespace: benchNamespace},
		Spec:       mcpv1alpha1.UpstreamServerSpec{URL: a.MCPURL()},
	}
	if err := c.Create(ctx, us); err != nil {
		return seeded{}, err
	}
	g, err := a.mint(ctx, clientID(i))
	if err != nil {
		return seeded{}, err
	}
	body, err := handOverPayload(a, g, clientID(i))
	if err != nil {
		return seeded{}, err
	}
	if err := c.Create(ctx, mcpv1alpha1.NewHandOverSecret(us, body)); err != nil {
		return seeded{}, err
	}
	return seeded{name: us.Name, holder: clientID(i), jitterKey: upstream.SessionKey(us), handOverCreated: time.Now(),
		issued: g.Obtained, expiry: g.Expiry}, nil
}

// handOverPayload is the hand-over of grant g, obtained by OAuth client clientID: what `mcpproxy
// auth login` writes.
func handOverPayload(a *authServer, g *grant, clientID string) ([]byte, error) {
	p := handover.Payload{
		ServerURL: a.MCPURL(), Issuer: a.Issuer(), Resource: a.Resource(), TokenEndpoint: a.tokenEndpoint(),
		AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType, Expiry: g.Expiry,
		Client:    handover.Client{ClientID: clientID, AuthMethod: "none", RedirectURI: redirectURI},
		CreatedAt: g.Obtained,
	}
	if g.Scope != "" {
		p.Scopes = splitSpaces(g.Scope)
	}
	return p.Encode()
}

func splitSpaces(s string) []string {
	var out []string
	start := -1
	for i, r := range s + " " {
		if r == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	return out
}
