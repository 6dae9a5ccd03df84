package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// handOverTimeout bounds the creation of the hand-over Secret once a token is in hand.
const handOverTimeout = 30 * time.Second

// BrowserLogin is the manager's own browser login (--browser-login, for local runs). It
// implements controllers.LoginStarter: flows run outside the reconcile, one per server at a
// time, the browser opens at most once per server per 5 minutes, and the result is delivered as
// a hand-over Secret, so it takes the same compare-and-swap path as `mcpproxy auth login`.
type BrowserLogin struct {
	client  client.Client
	coord   *browserlogin.Coordinator
	log     logr.Logger
	timeout time.Duration
	poll    time.Duration
	// httpClient carries the flow's OAuth requests through the manager's egress policy.
	httpClient *http.Client
}

// newBrowserLogin returns the adapter; Close it on shutdown to stop running flows. poll is how
// often a running flow checks that its server still needs the login (zero: 2s).
func newBrowserLogin(c client.Client, log logr.Logger, poll time.Duration) *BrowserLogin {
	if poll <= 0 {
		poll = defaultBrowserLoginPoll
	}
	return &BrowserLogin{client: c, coord: browserlogin.New(browserlogin.Options{}), log: log,
		timeout: oauth.DefaultLoginTimeout, poll: poll}
}

// Running is the flow running for the server key ("namespace/name"), or nil: tests wait on it.
func (b *BrowserLogin) Running(key string) *browserlogin.Flow { return b.coord.Running(key) }

// Close cancels every running flow and waits for them.
func (b *BrowserLogin) Close() { b.coord.Close() }

// RequestLogin starts (or joins) the browser login for us. It never blocks.
func (b *BrowserLogin) RequestLogin(us *mcpv1alpha1.UpstreamServer, cfg oauth.Config) {
	us = us.DeepCopy()
	key := types.NamespacedName{Namespace: us.Namespace, Name: us.Name}.String()
	log := b.log.WithValues("upstreamServer", klog.KObj(us))
	_, joined, err := b.coord.Request(key, func(ctx context.Context, open func(string) error) error {
		return b.login(ctx, us, cfg, open, log)
	})
	switch {
	case errors.Is(err, browserlogin.ErrRateLimited):
		log.Info("Skipped browser login: the browser was opened for this server less than 5 minutes ago",
			"loginCommand", controllers.LoginCommand(us))
	case err != nil:
		log.Info("Could not start a browser login", "reason", oauth.Redact(err.Error()))
	case joined:
		log.V(1).Info("Browser login already running")
	default:
		log.Info("Started browser login")
	}
}

// login runs one flow and hands its token over as a Secret.
func (b *BrowserLogin) login(ctx context.Context, us *mcpv1alpha1.UpstreamServer, cfg oauth.Config,
	open func(string) error, log logr.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go b.watch(ctx, cancel, us)

	cid := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, cid)
	log = log.WithValues("correlationID", cid)
	cfg.Logger = log
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = b.httpClient
	}
	res, err := oauth.Login(ctx, cfg, oauth.LoginOptions{OpenBrowser: open, Timeout: b.timeout})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		log.Info("Browser login did not complete", "reason", oauth.Redact(err.Error()))
		return err
	}
	// A token is in hand: deliver it even if the server stopped waiting meanwhile (a newer
	// manual login wins by creation time; an orphaned Secret is collected with its owner).
	data, err := browserlogin.HandOver(res, us.Spec.URL, time.Now()).Encode()
	if err != nil {
		return fmt.Errorf("encoding the hand-over: %w", err)
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), handOverTimeout)
	defer wcancel()
	sec := mcpv1alpha1.NewHandOverSecret(us, data)
	// Name the manager's own identity, as `mcpproxy auth login` names the user: the hand-over
	// admission policy admits nothing else.
	if user, err := upstream.WhoAmI(wctx, b.client); err == nil {
		sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: user}
	} else {
		log.Info("The hand-over will not name the manager", "reason", err.Error())
	}
	if err := b.client.Create(wctx, sec); err != nil {
		log.Info("Could not hand the login over", "reason", oauth.Redact(err.Error()))
		return fmt.Errorf("creating the hand-over Secret: %w", err)
	}
	log.Info("Handed a browser login over", "secret", sec.Name)
	return nil
}

// errLoginNotNeeded cancels a flow whose server no longer waits for it.
var errLoginNotNeeded = errors.New("the server no longer needs this login")

// watch cancels the flow when its server is deleted or replaced, or when it stopped asking for
// a login (a manual login was ingested) after having asked for one.
func (b *BrowserLogin) watch(ctx context.Context, cancel context.CancelCauseFunc, us *mcpv1alpha1.UpstreamServer) {
	t := time.NewTicker(b.poll)
	defer t.Stop()
	seenRequired := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := &mcpv1alpha1.UpstreamServer{}
		err := b.client.Get(ctx, client.ObjectKeyFromObject(us), cur)
		switch {
		case apierrors.IsNotFound(err):
			cancel(fmt.Errorf("%w: it was deleted", errLoginNotNeeded))
			return
		case err != nil:
			continue
		case cur.UID != us.UID || !cur.DeletionTimestamp.IsZero():
			cancel(fmt.Errorf("%w: it was deleted or replaced", errLoginNotNeeded))
			return
		}
		// The reconcile that asked for the login writes its status after asking.
		required := meta.IsStatusConditionTrue(cur.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired)
		if required {
			seenRequired = true
		} else if seenRequired {
			cancel(fmt.Errorf("%w: another login completed", errLoginNotNeeded))
			return
		}
	}
}
