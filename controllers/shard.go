package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// ShardLabel is the label that splits the fleet between manager Deployments, in the manner of
// Flux's sharding.fluxcd.io/key: a shard runs with --watch-label-selector=ShardLabel=NAME, and
// the main Deployment with !ShardLabel.
const ShardLabel = "sharding.mcpproxy.dev/key"

// Shard is the part of the fleet one manager reconciles: the UpstreamServers its selector
// matches, and the credentials of those servers. A credential follows its server, wherever
// its own labels say, so that one label on the server moves everything that uses its
// authorization server; a credential whose server does not exist goes by its own labels (one
// shard then reports ServerNotFound, not all of them).
//
// The manager's cache holds only the shard's servers (the gateway serves those), so requests
// for other shards' servers still arrive (through hand-over Secrets and credentials, which are
// not split). Reconcile drops them: Servers reads the labels of every shard's servers from a
// metadata-only cache, which costs no API read per request.
type Shard struct {
	// Selector picks the shard's servers; nil is every server (no sharding).
	Selector labels.Selector
	// Servers reads UpstreamServers as metav1.PartialObjectMetadata, of every shard.
	Servers client.Reader
}

// shardOwns decides whether a shard with selector sel reconciles an object: by its server's
// labels when the server exists, else by the object's own labels.
func shardOwns(sel labels.Selector, server map[string]string, serverExists bool, own map[string]string) bool {
	if sel == nil {
		return true
	}
	if serverExists {
		return sel.Matches(labels.Set(server))
	}
	return sel.Matches(labels.Set(own))
}

// serverLabels reads the labels of the server key from the metadata cache.
func (s *Shard) serverLabels(ctx context.Context, key types.NamespacedName) (map[string]string, bool, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(mcpv1alpha1.GroupVersion.WithKind("UpstreamServer"))
	switch err := s.Servers.Get(ctx, key, m); {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return m.Labels, true, nil
}

// othersServer reports whether the server key is known to belong to another shard. A server
// the metadata cache does not know is not another shard's: the reconcile reads it from the
// API server and decides again (ownsServer), so a lagging cache never drops a new server.
func (s *Shard) othersServer(ctx context.Context, key types.NamespacedName) (bool, error) {
	if s == nil || s.Selector == nil {
		return false, nil
	}
	l, ok, err := s.serverLabels(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	return !shardOwns(s.Selector, l, true, nil), nil
}

// ownsServer decides on a server read from the API server.
func (s *Shard) ownsServer(us *mcpv1alpha1.UpstreamServer) bool {
	return s == nil || shardOwns(s.Selector, us.Labels, true, nil)
}

// othersCredential reports whether the credential key (as the cache has it) is known to
// belong to another shard, before any API read is spent on it.
func (s *Shard) othersCredential(ctx context.Context, cache client.Reader, key types.NamespacedName) (bool, error) {
	if s == nil || s.Selector == nil {
		return false, nil
	}
	c := &mcpv1alpha1.UpstreamCredential{}
	if err := cache.Get(ctx, key, c); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	l, ok, err := s.serverLabels(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.ServerRef.Name})
	if err != nil {
		return false, err
	}
	return !shardOwns(s.Selector, l, ok, c.Labels), nil
}

// ownsCredential decides on a credential and its server (nil when it does not exist) read
// from the API server.
func (s *Shard) ownsCredential(c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) bool {
	if s == nil {
		return true
	}
	if us == nil {
		return shardOwns(s.Selector, nil, false, c.Labels)
	}
	return shardOwns(s.Selector, us.Labels, true, c.Labels)
}
