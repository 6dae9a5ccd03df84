package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
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
}

// authorizer answers "who is this" (TokenReview) and "may they use this server"
// (SubjectAccessReview), caching both answers briefly.
type authorizer struct {
	client    client.Client
	audiences []string
	tokens    *ttlCache[string, *Identity] // sha256(token) → identity; nil identity: rejected
	access    *ttlCache[string, bool]
}

func newAuthorizer(c client.Client, audiences []string, ttl time.Duration, size int) *authorizer {
	return &authorizer{client: c, audiences: audiences,
		tokens: newTTLCache[string, *Identity](ttl, size), access: newTTLCache[string, bool](ttl, size)}
}

// review authenticates a bearer token; nil means the token is not valid.
func (a *authorizer) review(ctx context.Context, token string) (*Identity, error) {
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if id, ok := a.tokens.get(key); ok {
		authCache.WithLabelValues("token", "hit").Inc()
		return id, nil
	}
	authCache.WithLabelValues("token", "miss").Inc()
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: a.audiences}}
	if err := a.client.Create(ctx, tr); err != nil {
		return nil, fmt.Errorf("creating a TokenReview: %w", err)
	}
	var id *Identity
	if tr.Status.Authenticated && tr.Status.Error == "" {
		u := tr.Status.User
		id = &Identity{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
	}
	a.tokens.put(key, id)
	return id, nil
}

// allowed asks whether id may use the UpstreamServer nn.
func (a *authorizer) allowed(ctx context.Context, id *Identity, nn types.NamespacedName) (bool, error) {
	if id.Loopback {
		return true, nil
	}
	groups := slices.Clone(id.Groups)
	slices.Sort(groups)
	key := strings.Join([]string{id.Name, id.UID, strings.Join(groups, ","), nn.Namespace, nn.Name}, "\x00")
	if ok, hit := a.access.get(key); hit {
		authCache.WithLabelValues("access", "hit").Inc()
		return ok, nil
	}
	authCache.WithLabelValues("access", "miss").Inc()
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
	a.access.put(key, sar.Status.Allowed)
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

// identify returns the caller of r: nil with a nil error means unauthenticated.
func (g *Gateway) identify(r *http.Request) (*Identity, error) {
	tok, ok := bearer(r)
	if !ok {
		if g.opts.AllowLoopbackUnauthenticated && isLoopback(r) {
			return &Identity{Name: "loopback-unauthenticated", Loopback: true}, nil
		}
		return nil, nil
	}
	return g.auth.review(r.Context(), tok)
}

// authenticate answers 401 (or 500) itself and reports false when the caller is not known.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	id, err := g.identify(r)
	switch {
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
