package app

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/mcpproxy/mcpproxy-operator/controllers"
)

// parseShard parses --watch-label-selector; empty is no sharding (nil).
func parseShard(selector string) (labels.Selector, error) {
	if selector == "" {
		return nil, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("--watch-label-selector %q: %w", selector, err)
	}
	return sel, nil
}

// newShard returns the shard of a sharded manager (nil otherwise), with its own cache of every
// shard's UpstreamServers, metadata and labels only: the manager's cache holds only this
// shard's servers, and the cache keys its settings by kind, so a metadata informer in it would
// be filtered too.
func newShard(cfg *rest.Config, mgr ctrl.Manager, o Options, sel labels.Selector) (*controllers.Shard, error) {
	if sel == nil {
		return nil, nil
	}
	all, err := cache.New(cfg, cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces: namespaceConfigs(o.Namespaces), DefaultTransform: labelsOnly})
	if err != nil {
		return nil, fmt.Errorf("creating the cache of every shard's servers: %w", err)
	}
	if err := mgr.Add(all); err != nil {
		return nil, err
	}
	return &controllers.Shard{Selector: sel, Servers: all}, nil
}

// labelsOnly keeps of a server's metadata what the shard decision reads.
func labelsOnly(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ObjectMeta = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, Labels: m.Labels}
	}
	return obj, nil
}

// shardSelector is the manager's shard selector, nil when it is not sharded.
func (m *Manager) shardSelector() labels.Selector {
	if m.shard == nil {
		return nil
	}
	return m.shard.Selector
}
