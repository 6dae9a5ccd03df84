package app

import (
	"fmt"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// wireGateway adds the gateway: it reads the manager's cached client and the token store, and
// asks the reconciler for refreshes, so it never spends a refresh token. On bbolt it runs on the
// leader only and asks in process (Signals); on the shared Secrets store it runs on every
// replica, and a non-leader asks the leader through the API (leaderRefresher).
func (m *Manager) wireGateway(o Options, log logr.Logger) error {
	g := o.Gateway
	glog := g.Logger
	if glog.GetSink() == nil {
		glog = log.WithName("gateway")
	}
	shared := o.TokenStoreBackend == StoreBackendSecrets
	var refresher upstream.Refresher = m.Signals
	if shared {
		refresher = newLeaderRefresher(m.Elected(), m.Signals, m.GetClient(), glog.WithName("refresher"))
	}
	opts := gateway.Options{
		Addr: g.Addr, Client: m.GetClient(), APIReader: m.GetAPIReader(), Store: m.Store,
		Informers: m.GetCache(), Refresher: refresher, SharedStore: shared, UpstreamLimits: o.MCPLimits,
		Shard:                        m.shardSelector(),
		AllowLoopbackUnauthenticated: g.AllowLoopbackUnauthenticated, Logger: glog,
	}
	if g.Tweak != nil {
		g.Tweak(&opts)
	}
	gw, err := gateway.New(opts)
	if err != nil {
		return err
	}
	if err := m.Add(gw); err != nil {
		return fmt.Errorf("adding the gateway: %w", err)
	}
	gw.SetEgress(m.GatewayEgress)
	m.Gateway = gw
	return nil
}
