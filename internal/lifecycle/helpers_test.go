package lifecycle

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// failingStore is a real bbolt store whose saves can be made to fail: the only way to reach
// the "refreshed but not saved" path, since the real store cannot be made to fail on demand.
type failingStore struct {
	*tokenstore.Store
	mu       sync.Mutex
	failNext int
	saves    int
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) Save(k tokenstore.Key, r *tokenstore.Record, expect uint64) (uint64, error) {
	s.mu.Lock()
	s.saves++
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return 0, errDiskFull
	}
	s.mu.Unlock()
	return s.Store.Save(k, r, expect)
}

func openStore(t *testing.T) *failingStore {
	t.Helper()
	st, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &failingStore{Store: st}
}

// rotatingAS plays an authorization server that rotates the refresh token on every refresh.
type rotatingAS struct {
	mu       sync.Mutex
	n        int
	spent    []string
	lifetime time.Duration
	now      func() time.Time
}

func (a *rotatingAS) Discover(context.Context, oauth.Config) (*oauth.Discovery, error) {
	return nil, errors.New("not used")
}

func (a *rotatingAS) Refresh(_ context.Context, r oauth.RefreshRequest) (*oauth.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	a.spent = append(a.spent, r.RefreshToken)
	return &oauth.Token{AccessToken: "at-" + itoa(a.n), RefreshToken: "rt-" + itoa(a.n), Expiry: a.now().Add(a.lifetime)}, nil
}

func (a *rotatingAS) Revoke(context.Context, string, oauth.ClientRegistration, string, string) error {
	return nil
}

func itoa(n int) string { return string(rune('0' + n)) }

// noSessions is a pool whose server cannot be reached: connects fail, nothing else happens.
type noSessions struct{}

func (noSessions) Ensure(context.Context, string, mcpconn.Target, string) (*mcpconn.Session, bool, error) {
	return nil, false, errors.New("connection refused")
}
func (noSessions) Get(string) *mcpconn.Session { return nil }
func (noSessions) Close(string)                {}

type nopOwner struct{}

func (nopOwner) DeleteHandOver(context.Context, string) error { return nil }
func (nopOwner) OfferBrowserLogin()                           {}

var testKey = tokenstore.Key{Namespace: "ns", Name: "srv", Binding: tokenstore.Binding{ServerURL: "https://mcp.example/mcp"}}

// pass observes (from the store and the runner, as the controller does) and runs one pass.
func pass(t *testing.T, r *Runner, clk *clocktesting.FakeClock, prev Status) Result {
	t.Helper()
	f := &Facts{Now: clk.Now(), Key: testKey, Prev: prev, PrevCurrent: true,
		Config: Config{SessionKey: "ns/srv", JitterKey: "ns/srv", HealthInterval: time.Minute, LoginCommand: "mcpproxy auth login srv -n ns"}}
	f.Unsaved = r.Unsaved(testKey)
	rec, err := r.Store.Load(testKey)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
	case err != nil:
		f.StoreErr = err
	default:
		f.Record = rec
	}
	return r.Run(context.Background(), Pass{Facts: f, Owner: nopOwner{}, Log: logr.Discard()})
}

func kinds(o Outcomes) []StepKind {
	var ks []StepKind
	for _, x := range o {
		ks = append(ks, x.Step.Kind)
	}
	return ks
}
