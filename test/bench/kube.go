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

// readyWatch records, from a watch of the UpstreamServers, when each first turned Ready.
type readyWatch struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	cancel  context.CancelFunc
}

func watchReady(cfg *rest.Config) (*readyWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(context.Background(), &mcpv1alpha1.UpstreamServer{})
	if err != nil {
		return nil, err
	}
	w := &readyWatch{readyAt: map[string]time.Time{}}
	see := func(obj any) {
		us, ok := obj.(*mcpv1alpha1.UpstreamServer)
		if !ok {
			return
		}
		c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if _, seen := w.readyAt[us.Name]; !seen {
			w.readyAt[us.Name] = now
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
		return nil, fmt.Errorf("the watch of UpstreamServers did not sync")
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

// seeded is what the harness knows of one server's login.
type seeded struct {
	name, client    string
	handOverCreated time.Time
	// issued and expiry are what the controller plans the first refresh by.
	issued, expiry time.Time
}

// seed creates n servers, each with a hand-over Secret holding tokens from a scripted login,
// with workers in parallel.
func seed(ctx context.Context, c client.Client, a *authServer, n, workers int) ([]seeded, error) {
	out := make([]seeded, n)
	idx := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range idx {
				s, err := seedOne(ctx, c, a, i)
				if err != nil {
					errs <- fmt.Errorf("seeding %s: %w", serverName(i), err)
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
	p := handover.Payload{
		ServerURL: a.MCPURL(), Issuer: a.Issuer(), Resource: a.Resource(), TokenEndpoint: a.tokenEndpoint(),
		AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType, Expiry: g.Expiry,
		Client:    handover.Client{ClientID: clientID(i), AuthMethod: "none", RedirectURI: redirectURI},
		CreatedAt: g.Obtained,
	}
	if g.Scope != "" {
		p.Scopes = splitSpaces(g.Scope)
	}
	body, err := p.Encode()
	if err != nil {
		return seeded{}, err
	}
	if err := c.Create(ctx, mcpv1alpha1.NewHandOverSecret(us, body)); err != nil {
		return seeded{}, err
	}
	return seeded{name: us.Name, client: clientID(i), handOverCreated: time.Now(), issued: g.Obtained, expiry: g.Expiry}, nil
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
