package app

import (
	"fmt"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/gateway"
)

// wireGateway adds the gateway: it reads the manager's cached client and the token store, and
// asks the reconciler for refreshes in process (Signals), so it never spends a refresh token.
func (m *Manager) wireGateway(o Options, log logr.Logger) error {
	g := o.Gateway
	glog := g.Logger
	if glog.GetSink() == nil {
		glog = log.WithName("gateway")
	}
	opts := gateway.Options{
		Addr: g.Addr, Client: m.GetClient(), APIReader: m.GetAPIReader(), Store: m.Store,
		Informers: m.GetCache(), Refresher: m.Signals, UpstreamLimits: o.MCPLimits,
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
