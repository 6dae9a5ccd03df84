package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
)

// sayFunc prints one of dev's own lines, set apart from the children's by its prefix.
type sayFunc func(format string, args ...any)

// run starts everything, waits for ctx (Ctrl-C) or for a child to die, and stops everything in
// reverse order. Whatever was started is stopped, whichever way run returns.
func run(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	out := &syncWriter{w: stdout}
	say := sayFunc(func(format string, args ...any) { fmt.Fprintf(out, "[dev]     "+format+"\n", args...) })

	storePath, earlierStore, err := prepareDir(cfg)
	if err != nil {
		return err
	}

	var stops stopList
	defer func() {
		say("Stopping")
		err = stops.stopAll(say, err)
		say("Stopped. State is kept in %s (make dev-clean resets it).", cfg.dir)
	}()

	cp, err := startControlPlane(cfg, say, &stops)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	oauth, err := startOAuthServer(ctx, cfg, say, &stops)
	if err != nil {
		return err
	}
	mgr, err := startController(ctx, cfg, out, say, &stops, cp.KubeconfigPath, storePath)
	if err != nil {
		return err
	}

	c, err := newClient(cp.Config)
	if err != nil {
		return err
	}
	if err := applyDemo(ctx, c, cfg.oauthURL()+"/mcp"); err != nil {
		return err
	}
	printNextSteps(out, cfg, cp.KubeconfigPath, earlierStore)
	return serve(ctx, c, out, oauth, mgr)
}

// prepareDir checks the ports before anything starts, so that a busy one fails fast and names
// its variable, and creates the state directory. earlierStore says whether a token store from an
// earlier run is there, which changes what the next steps tell the user.
func prepareDir(cfg config) (storePath string, earlierStore bool, err error) {
	if err := cfg.checkPortsFree(); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return "", false, fmt.Errorf("creating %s: %w", cfg.dir, err)
	}
	storePath = filepath.Join(cfg.dir, "tokens.db")
	_, statErr := os.Stat(storePath)
	return storePath, statErr == nil, nil
}

// stopList holds how to stop what run started, in start order, so that everything is stopped in
// reverse whichever way run returns.
type stopList []func() error

func (s *stopList) add(stop func() error) { *s = append(*s, stop) }

// stopAll runs the stops in reverse start order, says each failure as it happens and joins it
// into err; err comes back untouched when every stop succeeds.
func (s stopList) stopAll(say sayFunc, err error) error {
	for i := len(s) - 1; i >= 0; i-- {
		if stopErr := s[i](); stopErr != nil {
			say("%v", stopErr)
			err = errors.Join(err, stopErr)
		}
	}
	return err
}

// startControlPlane starts the local API server and etcd that the controller and the demo use.
func startControlPlane(cfg config, say sayFunc, stops *stopList) (*controlplane.ControlPlane, error) {
	say("Starting the control plane")
	cp, err := controlplane.Start(cfg.crdDir, cfg.dir)
	if err != nil {
		return nil, err
	}
	if err := installAdmission(context.Background(), cp.Config, filepath.Join(filepath.Dir(filepath.Dir(cfg.crdDir)), "admission")); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	stops.add(func() error {
		if err := cp.Stop(); err != nil {
			return fmt.Errorf("stopping the control plane: %w", err)
		}
		return nil
	})
	return cp, nil
}

// startOAuthServer starts the demo OAuth + MCP server and waits until it serves its metadata, so
// that the controller's first discovery for the demo server finds it up.
func startOAuthServer(ctx context.Context, cfg config, say sayFunc, stops *stopList) (*proc.Process, error) {
	oauthArgs := []string{"-port", strconv.Itoa(cfg.oauthPort), "-access-token-ttl", cfg.tokenTTL.String()}
	if cfg.autoApprove {
		oauthArgs = append(oauthArgs, "-auto-approve")
	}
	say("Starting the demo OAuth + MCP server on %s (tokens live %s)", cfg.oauthURL(), cfg.tokenTTL)
	oauth, err := startChild("oauthserver", filepath.Join(cfg.dir, "oauthserver.log"), nil, nil,
		filepath.Join(cfg.binDir, "oauthserver"), oauthArgs)
	if err != nil {
		return nil, err
	}
	stops.add(func() error { return stopChild(oauth, 5*time.Second) })
	if err := waitHTTP(ctx, oauth, cfg.oauthURL()+"/.well-known/oauth-authorization-server", 30*time.Second); err != nil {
		return nil, err
	}
	return oauth, nil
}

// startController starts the manager against the control plane, shows its log through the
// filter (the full log stays in manager.log), and waits until it is ready, so that the demo is
// applied to a controller that acts on it.
func startController(ctx context.Context, cfg config, out io.Writer, say sayFunc, stops *stopList,
	kubeconfig, storePath string) (*proc.Process, error) {
	say("Starting the controller (token store %s, metrics %s, probes %s, gateway %s)", storePath, cfg.metricsAddr, cfg.probeAddr, cfg.gatewayAddr)
	filter := &managerLogFilter{verbose: cfg.verbose}
	showLine := func(line string) {
		if s := filter.line(line); s != "" {
			fmt.Fprintf(out, "[manager] %s\n", s)
		}
	}
	mgr, err := startChild("manager", filepath.Join(cfg.dir, "manager.log"),
		[]string{"KUBECONFIG=" + kubeconfig}, showLine,
		filepath.Join(cfg.binDir, "manager"), cfg.managerArgs(storePath))
	if err != nil {
		return nil, err
	}
	stops.add(func() error { return stopChild(mgr, 15*time.Second) })
	if err := waitHTTP(ctx, mgr, "http://"+cfg.probeAddr+"/readyz", 60*time.Second); err != nil {
		return nil, err
	}
	return mgr, nil
}

// serve shows the demo server's changes until ctx ends (a clean exit) or a child dies: without
// either child there is nothing left to show, so its death ends the session with its log's tail.
// The watcher is stopped before serve returns, so its lines never mix with the stopping.
func serve(ctx context.Context, c client.Client, out io.Writer, oauth, mgr *proc.Process) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); watchDemo(watchCtx, c, out) }()
	defer func() { stopWatch(); wg.Wait() }()

	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
		return nil
	case <-oauth.Done():
		return fmt.Errorf("the demo OAuth server exited (%v); its log ends with:\n%s", oauth.Err(), oauth.Tail(15))
	case <-mgr.Done():
		return fmt.Errorf("the controller exited (%v); its log ends with:\n%s", mgr.Err(), mgr.Tail(15))
	}
}

// waitHTTP polls url until it answers 200, the child dies, ctx ends or the deadline passes.
func waitHTTP(ctx context.Context, c *proc.Process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.Done():
			return fmt.Errorf("%s exited while starting (%v); its log ends with:\n%s", c.Name(), c.Err(), c.Tail(15))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s did not answer %s within %s; see %s", c.Name(), url, timeout, c.LogPath())
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// syncWriter serializes writes from the watcher and the log filter.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
