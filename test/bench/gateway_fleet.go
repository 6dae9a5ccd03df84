package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// gatewayFleet is what the gateway (and the HA run's burst) is measured against on its own: a
// control plane, the OAuth server and the managers of one setup (one manager on a bbolt file,
// or replicas with leader election on the Secrets store), with the servers seeded so far all
// Ready.
type gatewayFleet struct {
	cfg   Config
	setup HASetup
	dir   string
	// n is how many servers are seeded (s00000 to s<n-1>), seeds their logins.
	n     int
	seeds []seeded
	cp    *controlplane.ControlPlane
	a     *authServer
	c     client.Client
	rs    replicas
	watch *readyWatch
}

// storeNamespace holds the token Secrets and the leader election lease of a setup on Secrets.
const storeNamespace = "mcpproxy-system"

// startGatewayFleet starts a fleet of n servers on one manager with a bbolt file, all Ready and
// listed on /mcp, in cfg.WorkDir.
func startGatewayFleet(cfg Config, bin string, n int) (*gatewayFleet, error) {
	f, err := startFleet(cfg, bin, HASetup{Store: storeBolt, Replicas: 1}, n, fmt.Sprintf("gateway-n%d", n))
	if err != nil {
		return nil, err
	}
	if err := f.grow(n); err != nil {
		f.stop()
		return nil, err
	}
	if err := f.waitListed(); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// startFleet starts the control plane, the OAuth server (with a client for each of capacity
// servers) and the managers of setup in cfg.WorkDir/name, and waits for a leader when they
// elect one; there is no server yet. stop ends it, also when it failed half way.
func startFleet(cfg Config, bin string, setup HASetup, capacity int, name string) (f *gatewayFleet, err error) {
	f = &gatewayFleet{cfg: cfg, setup: setup, dir: filepath.Join(cfg.WorkDir, name)}
	defer func() {
		if err != nil {
			f.stop()
		}
	}()
	if f.cp, err = controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), f.dir); err != nil {
		return f, err
	}
	if f.a, err = startAuthServer(capacity, 0, cfg.TokenTTL); err != nil {
		return f, err
	}
	if f.c, err = newClient(f.cp.Config); err != nil {
		return f, err
	}
	if f.watch, err = watchReady(f.cp.Config, &mcpv1alpha1.UpstreamServer{}); err != nil {
		return f, err
	}
	args := managerArgs{bin: bin, kubeconfig: f.cp.KubeconfigPath, maxConcurrent: cfg.MaxConcurrentReconciles, logDir: f.dir}
	if err = f.storeArgs(&args); err != nil {
		return f, err
	}
	if f.rs, err = startReplicas(args, setup.Replicas); err != nil {
		return f, err
	}
	if setup.elects() {
		if err = waitFor(time.Minute, func() bool { return f.rs.leader() >= 0 }); err != nil {
			return f, fmt.Errorf("%s: no replica took the lease: %w", setup, err)
		}
	}
	return f, nil
}

// storeArgs sets the manager's token store: a bbolt file, or the Secrets of storeNamespace
// sealed with a key file of its own, with leader election.
func (f *gatewayFleet) storeArgs(a *managerArgs) error {
	if f.setup.Store == storeBolt {
		a.store = filepath.Join(f.dir, "store", "tokens.db")
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: storeNamespace}}
	if err := f.c.Create(context.Background(), ns); err != nil {
		return fmt.Errorf("creating the token store's namespace: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(f.dir, "token.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	a.flags = []string{"--token-store-backend=secrets", "--token-store-namespace=" + storeNamespace,
		"--token-encryption-key-file=" + keyFile, "--leader-elect", "--leader-election-namespace=" + storeNamespace}
	a.flags = append(a.flags, f.cfg.LeaseFlags...)
	return nil
}

// grow seeds servers up to n, each logged in through a hand-over, and waits until every one
// is Ready.
func (f *gatewayFleet) grow(n int) error {
	if n <= f.n {
		return nil
	}
	logf(f.cfg, "%s: creating %d logged-in servers", f.setup, n-f.n)
	seeds, err := seed(context.Background(), f.c, f.a, f.n, n, 16)
	if err != nil {
		return err
	}
	f.seeds = append(f.seeds, seeds...)
	timeout := time.Minute + time.Duration(n)*100*time.Millisecond
	if err := waitFor(timeout, func() bool { return f.watch.count() >= n }); err != nil {
		return fmt.Errorf("only %d of %d servers turned Ready: %w", f.watch.count(), n, err)
	}
	f.n = n
	logf(f.cfg, "%s: %d servers Ready", f.setup, n)
	return nil
}

// waitListed waits until a new /mcp session on every replica lists the echo tool of every
// server.
func (f *gatewayFleet) waitListed() error {
	timeout := time.Minute + time.Duration(f.n)*100*time.Millisecond
	aggregated := f.endpoints()[2]
	for i := range f.rs {
		if err := waitFor(timeout, func() bool { return listsEcho(aggregated, i, f.n) }); err != nil {
			return fmt.Errorf("waiting for /mcp of replica %d to list the echo tool of %d servers: %w", i, f.n, err)
		}
	}
	logf(f.cfg, "%s: %d servers listed on /mcp of every replica", f.setup, f.n)
	return nil
}

// listsEcho reports whether a new session i of ep (on its i-th address) lists at least n echo
// tools.
func listsEcho(ep endpoint, i, n int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := connect(ctx, ep, i)
	if err != nil {
		return false
	}
	defer func() { _ = cs.Close() }()
	echo := 0
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return false
		}
		if strings.HasSuffix(tool.Name, ".echo") {
			echo++
		}
	}
	return echo >= n
}

// endpoints are the targets of the fleet: direct, the pass-through of the first server, /mcp.
func (f *gatewayFleet) endpoints() []endpoint {
	return gatewayEndpoints(f.a, f.rs.gatewayAddrs())
}

func (f *gatewayFleet) stop() {
	f.rs.stop()
	if f.watch != nil {
		f.watch.cancel()
	}
	if f.a != nil {
		f.a.close()
	}
	if f.cp != nil {
		_ = f.cp.Stop()
	}
}
