package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// VerbUse is the RBAC verb a caller needs on an UpstreamServer to use it through the gateway.
const VerbUse = "use"

// Identity is an authenticated caller.
type Identity struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string]authnv1.ExtraValue
	// Loopback is true for an unauthenticated loopback caller (--gateway-allow-loopback-unauthenticated),
	// who may use every server.
	Loopback bool
	// accessKey is the part of a SubjectAccessReview answer's cache key that names the
	// caller (accessPrefix), computed once per TokenReview answer.
	accessKey string
}

// accessPrefix is the caller's part of the key of a cached SubjectAccessReview answer: name,
// UID and groups (sorted), everything the review is asked for besides the server. Extra is
// left out; a workload's identity carries the same extra for the life of its token.
func (id *Identity) accessPrefix() string {
	if id.accessKey != "" {
		return id.accessKey
	}
	groups := slices.Clone(id.Groups)
	slices.Sort(groups)
	return strings.Join([]string{id.Name, id.UID, strings.Join(groups, ",")}, "\x00") + "\x00"
}

// authorizer answers "who is this" (TokenReview) and "may they use this server"
// (SubjectAccessReview), caching both answers briefly.
type authorizer struct {
	client    client.Client
	audiences []string
	// tokens holds authenticated tokens only: sha256(token) → identity. Rejected tokens go to
	// the separate, smaller rejected cache, so junk can only ever evict junk.
	tokens   *ttlCache[string, *Identity]
	rejected *ttlCache[string, struct{}]
	// access holds SubjectAccessReview answers, allowed and denied, for at most maxAccessTTL.
	access *ttlCache[string, bool]
	// limit bounds the reviews of tokens neither cache knows.
	limit *reviewLimiter

	mu       sync.Mutex
	inflight map[string]*reviewCall
	// asking are the SubjectAccessReviews in flight, by access key: callers asking the same
	// question at the same time (a client's burst after the answer expired) wait for one.
	asking map[string]*accessCall
}

// maxAccessTTL bounds how long a SubjectAccessReview's answer is used, whatever AuthCacheTTL
// says: a RoleBinding removed (or added) takes effect on the gateway within 10 seconds, for
// requests on open sessions too. That is one review per caller and server every 10 seconds at
// most, however many requests they make; the kube-apiserver's own webhook authorizer keeps
// its answers longer (5 minutes allowed, 30 seconds denied by default).
const maxAccessTTL = 10 * time.Second

// accessCall is one SubjectAccessReview in flight.
type accessCall struct {
	done    chan struct{}
	allowed bool
	err     error
}

// reviewTimeout bounds one TokenReview; it outlives the caller that started it, since callers
// presenting the same token wait for its answer.
const reviewTimeout = 10 * time.Second

func newAuthorizer(c client.Client, o Options) *authorizer {
	return &authorizer{client: c, audiences: o.Audiences,
		tokens:   newTTLCache[string, *Identity](o.AuthCacheTTL, o.AuthCacheSize),
		rejected: newTTLCache[string, struct{}](o.AuthCacheTTL, o.RejectedTokenCacheSize),
		access:   newTTLCache[string, bool](min(o.AuthCacheTTL, maxAccessTTL), o.AuthCacheSize),
		limit:    newReviewLimiter(o.ReviewRatePerClient, o.ReviewRateTotal),
		inflight: map[string]*reviewCall{}, asking: map[string]*accessCall{}}
}

// review authenticates a bearer token presented from the address client; nil means the token
// is not valid. A token neither cache knows costs a TokenReview, within the rate limit
// (errReviewLimited otherwise), and once however many requests present it at the same time.
func (a *authorizer) review(ctx context.Context, token, client string) (*Identity, error) {
	// Keyed by the token's hash: the token itself is never kept.
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if id, ok := a.tokens.get(key); ok {
		tokenHits.Inc()
		return id, nil
	}
	if _, ok := a.rejected.get(key); ok {
		tokenRejectedHits.Inc()
		return nil, nil
	}
	tokenMisses.Inc()
	call, leader := a.join(key)
	if !leader {
		select {
		case <-call.done:
			return call.id, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer a.finish(key, call)
	if ok, wait := a.limit.allow(client); !ok {
		call.err = errReviewLimited{retryAfter: wait}
		return nil, call.err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
	defer cancel()
	call.id, call.err = a.tokenReview(rctx, token)
	switch {
	case call.err != nil:
	case call.id != nil:
		// Never past the token's own expiry, when it says one.
		a.tokens.putFor(key, call.id, untilExpiry(token, time.Now()))
	default:
		a.rejected.put(key, struct{}{})
	}
	return call.id, call.err
}

// untilExpiry is how long a JWT bearer token is valid by its unverified exp claim (the
// TokenReview verified the token; exp only shortens how long its answer is used), or an
// unbounded duration when the token says nothing.
func untilExpiry(token string, now time.Time) time.Duration {
	const unbounded = time.Duration(1<<63 - 1)
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return unbounded
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return unbounded
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return unbounded
	}
	return time.Unix(int64(*claims.Exp), 0).Sub(now)
}

// join returns the review in flight for key, or starts one (leader).
func (a *authorizer) join(key string) (call *reviewCall, leader bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.inflight[key]; c != nil {
		return c, false
	}
	c := &reviewCall{done: make(chan struct{})}
	a.inflight[key] = c
	return c, true
}

func (a *authorizer) finish(key string, call *reviewCall) {
	a.mu.Lock()
	delete(a.inflight, key)
	a.mu.Unlock()
	close(call.done)
}

// tokenReview asks the API server who token is; nil means not authenticated.
func (a *authorizer) tokenReview(ctx context.Context, token string) (*Identity, error) {
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: a.audiences}}
	if err := a.client.Create(ctx, tr); err != nil {
		return nil, fmt.Errorf("creating a TokenReview: %w", err)
	}
	if !tr.Status.Authenticated || tr.Status.Error != "" {
		return nil, nil
	}
	u := tr.Status.User
	id := &Identity{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
	id.accessKey = id.accessPrefix()
	return id, nil
}

// allowed asks whether id may use the UpstreamServer nn.
func (a *authorizer) allowed(ctx context.Context, id *Identity, nn types.NamespacedName) (bool, error) {
	if id.Loopback {
		return true, nil
	}
	key := id.accessPrefix() + nn.Namespace + "\x00" + nn.Name
	if ok, hit := a.access.get(key); hit {
		accessHits.Inc()
		return ok, nil
	}
	accessMisses.Inc()
	a.mu.Lock()
	call := a.asking[key]
	leader := call == nil
	if leader {
		call = &accessCall{done: make(chan struct{})}
		a.asking[key] = call
	}
	a.mu.Unlock()
	if !leader {
		select {
		case <-call.done:
			return call.allowed, call.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	defer func() {
		a.mu.Lock()
		delete(a.asking, key)
		a.mu.Unlock()
		close(call.done)
	}()
	// Detached from the caller that asked first, like a TokenReview: the others wait for it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
	defer cancel()
	call.allowed, call.err = a.subjectAccessReview(rctx, id, nn)
	if call.err == nil {
		a.access.put(key, call.allowed)
	}
	return call.allowed, call.err
}

// subjectAccessReview asks the API server whether id may use the UpstreamServer nn.
func (a *authorizer) subjectAccessReview(ctx context.Context, id *Identity, nn types.NamespacedName) (bool, error) {
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range id.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: nn.Namespace, Name: nn.Name, Verb: VerbUse,
			Group: mcpv1alpha1.GroupVersion.Group, Resource: "upstreamservers",
		},
		User: id.Name, UID: id.UID, Groups: id.Groups, Extra: extra,
	}}
	if err := a.client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("creating a SubjectAccessReview: %w", err)
	}
	return sar.Status.Allowed, nil
}

// bearer extracts the bearer token of r.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// clientAddr is the caller's IP address, the key of its review rate limit.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// identify returns the caller of r: nil with a nil error means unauthenticated.
func (g *Gateway) identify(r *http.Request) (*Identity, error) {
	tok, ok := bearer(r)
	if !ok {
		if g.opts.AllowLoopbackUnauthenticated && isLoopback(r) {
			return &Identity{Name: "loopback-unauthenticated", Loopback: true}, nil
		}
		return nil, nil
	}
	return g.auth.review(r.Context(), tok, clientAddr(r))
}

// authenticate answers 401 (429, or 500) itself and reports false when the caller is not known.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	id, err := g.identify(r)
	var limited errReviewLimited
	switch {
	case errors.As(err, &limited):
		writeRPCError(w, http.StatusTooManyRequests, nil, CodeTooManyRequests,
			"The gateway is checking too many unknown bearer tokens from your address; try again later",
			&rpcErrorData{Reason: ReasonReviewRateLimited, RetryAfterSeconds: retrySeconds(limited.retryAfter)}, limited.retryAfter)
		return nil, false
	case err != nil:
		g.log.Error(err, "Failed to authenticate a caller")
		writeRPCError(w, http.StatusInternalServerError, nil, CodeInternal, "The gateway could not check the bearer token; try again", nil, 0)
		return nil, false
	case id == nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcpproxy-gateway"`)
		writeRPCError(w, http.StatusUnauthorized, nil, CodeUnauthenticated,
			"A valid Kubernetes bearer token is required (for example a projected ServiceAccount token)", nil, 0)
		return nil, false
	}
	return id, true
}

// authorize answers 403 (or 500) itself and reports false unless id may use nn.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request, id *Identity, nn types.NamespacedName) bool {
	ok, err := g.auth.allowed(r.Context(), id, nn)
	switch {
	case err != nil:
		g.log.Error(err, "Failed to authorize a caller", "caller", id.Name, "server", nn.String())
		writeRPCError(w, http.StatusInternalServerError, nil, CodeInternal, "The gateway could not check permissions; try again", nil, 0)
		return false
	case !ok:
		writeRPCError(w, http.StatusForbidden, nil, CodeForbidden,
			fmt.Sprintf("%s may not use UpstreamServer %s: it needs the verb %q on upstreamservers.%s (a Role and RoleBinding)",
				id.Name, nn, VerbUse, mcpv1alpha1.GroupVersion.Group), &rpcErrorData{Server: nn.String()}, 0)
		return false
	}
	return true
}
