package cli

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// The kinds of object that hold a token.
const (
	kindServer     = "UpstreamServer"
	kindCredential = "UpstreamCredential"
)

// target is what a login, refresh or logout acts on: an UpstreamServer (its shared token) or
// an UpstreamCredential (a person's token for a PerSubject server).
type target struct {
	kind string
	key  types.NamespacedName
}

func serverTarget(ns, name string) target {
	return target{kind: kindServer, key: types.NamespacedName{Namespace: ns, Name: name}}
}

func credentialTarget(ns, name string) target {
	return target{kind: kindCredential, key: types.NamespacedName{Namespace: ns, Name: name}}
}

// String names the target in messages: ns/name for a server (as before credentials existed),
// UpstreamCredential ns/name for a credential.
func (t target) String() string {
	if t.kind == kindCredential {
		return kindCredential + " " + t.key.String()
	}
	return t.key.String()
}

// noun is how progress text calls the target.
func (t target) noun() string {
	if t.kind == kindCredential {
		return "credential"
	}
	return "server"
}

// object is an empty object of the target's kind, named as the target.
func (t target) object() client.Object {
	var o client.Object = &mcpv1alpha1.UpstreamServer{}
	if t.kind == kindCredential {
		o = &mcpv1alpha1.UpstreamCredential{}
	}
	o.SetNamespace(t.key.Namespace)
	o.SetName(t.key.Name)
	return o
}

// read reads the target's status; a missing object is apierrors' NotFound.
func (t target) read(ctx context.Context, c client.Client) (*holder, error) {
	o := t.object()
	if err := c.Get(ctx, t.key, o); err != nil {
		return nil, err
	}
	switch o := o.(type) {
	case *mcpv1alpha1.UpstreamCredential:
		return credentialHolder(o), nil
	case *mcpv1alpha1.UpstreamServer:
		return serverHolder(o), nil
	}
	return nil, fmt.Errorf("unexpected object %T", o)
}

// holder is the token part of a server's or a credential's status (a credential's mirrors a
// server's): the waits, outcomes and printouts read both the same way.
type holder struct {
	target
	conditions    []metav1.Condition
	token         *mcpv1alpha1.TokenStatus
	refresh       *mcpv1alpha1.RefreshStatus
	authorization *mcpv1alpha1.AuthorizationStatus
	// lastCorrelationID, lastHandledRefresh and lastHandledLogout are the status fields of
	// the same names.
	lastCorrelationID, lastHandledRefresh, lastHandledLogout string
	// server is the MCP server's self-description (servers only).
	server *mcpv1alpha1.ServerInfo
	// serverRef and subjects are a credential's spec.
	serverRef string
	subjects  []mcpv1alpha1.CredentialSubject
}

func serverHolder(us *mcpv1alpha1.UpstreamServer) *holder {
	s := us.Status
	return &holder{target: serverTarget(us.Namespace, us.Name), conditions: s.Conditions, token: s.Token,
		refresh: s.Refresh, authorization: s.Authorization, lastCorrelationID: s.LastCorrelationID,
		lastHandledRefresh: s.LastHandledRefreshRequest, lastHandledLogout: s.LastHandledLogoutRequest, server: s.Server}
}

func credentialHolder(c *mcpv1alpha1.UpstreamCredential) *holder {
	s := c.Status
	return &holder{target: credentialTarget(c.Namespace, c.Name), conditions: s.Conditions, token: s.Token,
		refresh: s.Refresh, authorization: s.Authorization, lastCorrelationID: s.LastCorrelationID,
		lastHandledRefresh: s.LastHandledRefreshRequest, lastHandledLogout: s.LastHandledLogoutRequest,
		serverRef: c.Spec.ServerRef.Name, subjects: c.Spec.Subjects}
}

func (h *holder) cond(typ string) *metav1.Condition {
	return meta.FindStatusCondition(h.conditions, typ)
}

func (h *holder) isTrue(typ string) bool {
	c := h.cond(typ)
	return c != nil && c.Status == metav1.ConditionTrue
}

func (h *holder) reason(typ string) string {
	if c := h.cond(typ); c != nil {
		return c.Reason
	}
	return ""
}

// credentialPrefixes are the resource names an argument may put before a credential's name,
// as kubectl's TYPE/NAME.
var credentialPrefixes = []string{"credential", "credentials", "ucred", "upstreamcredential", "upstreamcredentials"}

// parseTargetArg reads a command's NAME argument: credential/NAME (or another of
// credentialPrefixes) names an UpstreamCredential, anything else an UpstreamServer
// (upstreamserver/NAME too).
func parseTargetArg(arg string) (kind, name string, err error) {
	prefix, rest, ok := strings.Cut(arg, "/")
	if !ok {
		return kindServer, arg, nil
	}
	switch p := strings.ToLower(prefix); {
	case p == "upstreamserver" || p == "upstreamservers" || p == "server" || p == "servers":
		kind = kindServer
	case containsString(credentialPrefixes, p):
		kind = kindCredential
	default:
		return "", "", fmt.Errorf("%q: name a server as NAME, or a credential as credential/NAME", arg)
	}
	if rest == "" || strings.Contains(rest, "/") {
		return "", "", fmt.Errorf("%q: name a server as NAME, or a credential as credential/NAME", arg)
	}
	return kind, rest, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// getCredential reads one UpstreamCredential with a message a person can act on.
func getCredential(ctx context.Context, c client.Client, ns, name string) (*mcpv1alpha1.UpstreamCredential, error) {
	cred := &mcpv1alpha1.UpstreamCredential{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, cred); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("UpstreamCredential %q not found in namespace %q (list them with: mcpproxy auth status -n %s)", name, ns, ns)
		}
		return nil, fmt.Errorf("reading UpstreamCredential %s/%s: %w", ns, name, err)
	}
	return cred, nil
}

// resolveTarget is what NAME (optional) and --credential name together: a server, a
// credential (credential/NAME or --credential NAME), or a credential of server NAME (both; the
// credential must be the server's). A PerSubject server holds no token of its own, so naming
// one alone is refused with how to name a credential.
func resolveTarget(ctx context.Context, c client.Client, ns string, args []string, credential string) (target, error) {
	var kind, name string
	if len(args) == 1 {
		var err error
		if kind, name, err = parseTargetArg(args[0]); err != nil {
			return target{}, err
		}
	}
	switch {
	case kind == kindCredential && credential != "" && credential != name:
		return target{}, fmt.Errorf("%s and --credential %s name two credentials", args[0], credential)
	case kind == kindCredential:
		credential = name
	case credential == "" && name == "":
		return target{}, fmt.Errorf("name a server (NAME) or a credential (credential/NAME or --credential NAME)")
	}
	if credential == "" {
		us, err := getServer(ctx, c, ns, name)
		if err != nil {
			return target{}, err
		}
		if us.Spec.CredentialMode == mcpv1alpha1.CredentialModePerSubject {
			return target{}, fmt.Errorf("UpstreamServer %s/%s is PerSubject: it holds no token of its own; name one of its credentials "+
				"with --credential NAME or credential/NAME (list them with: mcpproxy auth status %s -n %s)", ns, name, name, ns)
		}
		return serverTarget(ns, name), nil
	}
	cred, err := getCredential(ctx, c, ns, credential)
	if err != nil {
		return target{}, err
	}
	if kind == kindServer && name != cred.Spec.ServerRef.Name {
		return target{}, fmt.Errorf("UpstreamCredential %s/%s is for server %s, not %s", ns, credential, cred.Spec.ServerRef.Name, name)
	}
	return credentialTarget(ns, credential), nil
}
