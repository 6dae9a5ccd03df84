package secretstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// What a token Secret looks like (see the package documentation).
const (
	// SecretType is the type of every token Secret; the informer selects by it.
	SecretType corev1.SecretType = "mcpproxy.dev/token"
	// ServerLabel holds a hash of the server's "namespace/name/", so DeleteServer selects its
	// records whatever the length of the names.
	ServerLabel = "mcpproxy.dev/token-server"
	// KeyAnnotation holds the record's storage key, namespace/name/bindinghash.
	KeyAnnotation = "mcpproxy.dev/token-key"
	// DataKey is the data key of the sealed value.
	DataKey = "record"
	// NamePrefix starts every token Secret's name.
	NamePrefix = "mcpproxy-token-"
)

// Defaults of Options.
const (
	DefaultSyncTimeout       = 2 * time.Minute
	DefaultRequestTimeout    = 15 * time.Second
	defaultQPS, defaultBurst = 50, 100
)

// hashLen is how many hex characters of sha256 a name or label keeps (160 bits).
const hashLen = 40

// Options configure New.
type Options struct {
	// Namespace holds the token Secrets: the manager's own. Required.
	Namespace string
	// Keys seal and open the records (tokenstore.LoadKeyring). Required.
	Keys *tokenstore.Keyring
	// Logger receives start-up messages; never secrets.
	Logger logr.Logger
	// SyncTimeout bounds the informer's first list; zero means DefaultSyncTimeout.
	SyncTimeout time.Duration
	// RequestTimeout bounds each call to the API server; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Store is the token store on Secrets. It is safe for concurrent use, and several Stores (one
// per replica) may share a namespace.
type Store struct {
	secrets typedcorev1.SecretInterface
	ns      string
	keys    *tokenstore.Keyring
	log     logr.Logger
	timeout time.Duration

	closeMu sync.RWMutex // held for reading by every operation, for writing by Close
	closed  bool
	done    chan struct{} // closed by Close: ends WaitNewer
	stop    context.CancelFunc
	stopped chan struct{} // closed when the informer has exited

	view      view
	announced tokenstore.Announcer
}

var _ tokenstore.Backend = (*Store)(nil)

// NewForConfig is New with a clientset for cfg (its own rate limit: 50 requests/s, burst 100,
// unless cfg sets one).
func NewForConfig(cfg *rest.Config, o Options) (*Store, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	}
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + " mcpproxy-operator/token-store"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("token store client: %w", err)
	}
	return New(cs, o)
}

// New checks that the namespace's token Secrets can be listed, starts the informer and returns
// once it has listed them all, so that a Load never misses a stored record.
func New(cs kubernetes.Interface, o Options) (*Store, error) {
	if o.Namespace == "" || o.Keys == nil {
		return nil, errors.New("secretstore: Options.Namespace and Options.Keys are required")
	}
	s := &Store{
		secrets: cs.CoreV1().Secrets(o.Namespace), ns: o.Namespace, keys: o.Keys,
		log: o.Logger.WithValues("tokenStoreNamespace", o.Namespace), timeout: o.RequestTimeout,
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	s.view.entries = map[string]*entry{}
	// A missing permission or namespace is reported now, not as a sync timeout.
	ctx, cancel := s.request()
	first, err := s.secrets.List(ctx, s.selected(metav1.ListOptions{Limit: 1}))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing token Secrets in namespace %s: %w", o.Namespace, err)
	}
	s.view.raise(rvOf(first.ResourceVersion))

	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return s.secrets.List(ctx, s.selected(lo))
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			return s.secrets.Watch(ctx, s.selected(lo))
		},
	}, &corev1.Secret{}, 0, cache.Indexers{})
	// The informer's own copy needs no managed fields (the data is shared with the view).
	if err := inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}); err != nil {
		return nil, err
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.observeEvent(obj, true) },
		UpdateFunc: func(_, obj any) { s.observeEvent(obj, true) },
		DeleteFunc: func(obj any) { s.observeEvent(obj, false) },
	})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() {
		defer close(s.stopped)
		inf.RunWithContext(runCtx)
	}()
	syncTimeout := o.SyncTimeout
	if syncTimeout <= 0 {
		syncTimeout = DefaultSyncTimeout
	}
	syncCtx, cancelSync := context.WithTimeout(runCtx, syncTimeout)
	defer cancelSync()
	if !cache.WaitForCacheSync(syncCtx.Done(), reg.HasSynced) {
		stop()
		<-s.stopped
		return nil, fmt.Errorf("token Secrets in namespace %s: the informer did not sync within %s", o.Namespace, syncTimeout)
	}
	s.view.raise(rvOf(inf.LastSyncResourceVersion()))
	s.log.Info("Opened token store on Secrets", "records", s.view.count(), "keyID", o.Keys.ActiveKeyID())
	return s, nil
}

// selected restricts list and watch to token Secrets.
func (s *Store) selected(lo metav1.ListOptions) metav1.ListOptions {
	lo.FieldSelector = "type=" + string(SecretType)
	lo.LabelSelector = ServerLabel
	return lo
}

// observeEvent merges an informer event into the view.
func (s *Store) observeEvent(obj any, present bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if sec, ok := obj.(*corev1.Secret); ok {
		s.announce(s.view.observe(sec, present))
	}
}

func (s *Store) announce(keys []string) {
	for _, sk := range keys {
		s.announced.Announce(sk)
	}
}

// request is the context of one call to the API server. It does not end with Close: a write
// in flight finishes (Close waits for it), as a bbolt commit does.
func (s *Store) request() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// enter holds off Close for one operation.
func (s *Store) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return tokenstore.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.closeMu.RUnlock() }

// Close waits for the operations in flight, then stops the informer; WaitNewer returns
// ErrClosed. Calling it twice is safe.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.closeMu.Unlock()
	s.stop()
	<-s.stopped
	return nil
}

// Waiting is how many WaitNewer calls are registered now.
func (s *Store) Waiting() int64 { return s.announced.Waiting() }

// SecretName is the name of the Secret holding storage key sk.
func SecretName(sk string) string { return NamePrefix + digest("mcpproxy-secretstore/name/v1", sk) }

// ServerLabelValue is ServerLabel's value for the records of namespace/name, given its
// storage-key prefix (tokenstore.ServerPrefix).
func ServerLabelValue(prefix string) string { return digest("mcpproxy-secretstore/server/v1", prefix) }

func digest(domain, s string) string {
	sum := sha256.Sum256([]byte(domain + "\x00" + s))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// Load returns the record under k from the informer's view (with this store's own writes).
func (s *Store) Load(k tokenstore.Key) (*tokenstore.Record, error) {
	sk, err := k.StorageKey()
	if err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("loading token %s: %w", k, err)
	}
	defer s.leave()
	e := s.view.get(SecretName(sk))
	if e == nil || !e.present {
		return nil, fmt.Errorf("%w: %s", tokenstore.ErrNotFound, k)
	}
	if e.sk != sk {
		return nil, &tokenstore.CorruptRecordError{Key: k, Reason: "its Secret names another storage key (hash collision or tampering)"}
	}
	return s.keys.Open(k, e.value)
}

// WaitNewer returns the record under k once its revision is not rev, woken by the informer's
// event of a save on any replica (or this store's own write), never by polling.
func (s *Store) WaitNewer(ctx context.Context, k tokenstore.Key, rev uint64) (*tokenstore.Record, error) {
	return s.announced.WaitNewer(ctx, k, rev, s.Load, s.done)
}
