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

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
)

// run starts everything, waits for ctx (Ctrl-C) or for a child to die, and stops everything in
// reverse order. Whatever was started is stopped, whichever way run returns.
func run(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	out := &syncWriter{w: stdout}
	say := func(format string, args ...any) { fmt.Fprintf(out, "[dev]     "+format+"\n", args...) }

	if err := cfg.checkPortsFree(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", cfg.dir, err)
	}
	storePath := filepath.Join(cfg.dir, "tokens.db")
	_, statErr := os.Stat(storePath)
	earlierStore := statErr == nil

	var stops []func() error // in start order; run in reverse
	defer func() {
		say("Stopping")
		for i := len(stops) - 1; i >= 0; i-- {
			if stopErr := stops[i](); stopErr != nil {
				say("%v", stopErr)
				err = errors.Join(err, stopErr)
			}
		}
		say("Stopped. State is kept in %s (make dev-clean resets it).", cfg.dir)
	}()

	say("Starting the control plane")
	cp, err := controlplane.Start(cfg.crdDir, cfg.dir)
	if err != nil {
		return err
	}
	stops = append(stops, func() error {
		if err := cp.Stop(); err != nil {
			return fmt.Errorf("stopping the control plane: %w", err)
		}
		return nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}

	oauthArgs := []string{"-port", strconv.Itoa(cfg.oauthPort), "-access-token-ttl", cfg.tokenTTL.String()}
	if cfg.autoApprove {
		oauthArgs = append(oauthArgs, "-auto-approve")
	}
	say("Starting the demo OAuth + MCP server on %s (tokens live %s)", cfg.oauthURL(), cfg.tokenTTL)
	oauth, err := startChild("oauthserver", filepath.Join(cfg.dir, "oauthserver.log"), nil, nil,
		filepath.Join(cfg.binDir, "oauthserver"), oauthArgs)
	if err != nil {
		return err
	}
	stops = append(stops, func() error { return stopChild(oauth, 5*time.Second) })
	if err := waitHTTP(ctx, oauth, cfg.oauthURL()+"/.well-known/oauth-authorization-server", 30*time.Second); err != nil {
		return err
	}

	say("Starting the controller (token store %s, metrics %s, probes %s, gateway %s)", storePath, cfg.metricsAddr, cfg.probeAddr, cfg.gatewayAddr)
	filter := &managerLogFilter{verbose: cfg.verbose}
	showLine := func(line string) {
		if s := filter.line(line); s != "" {
			fmt.Fprintf(out, "[manager] %s\n", s)
		}
	}
	mgr, err := startChild("manager", filepath.Join(cfg.dir, "manager.log"),
		[]string{"KUBECONFIG=" + cp.KubeconfigPath}, showLine,
		filepath.Join(cfg.binDir, "manager"), cfg.managerArgs(storePath))
	if err != nil {
		return err
	}
	stops = append(stops, func() error { return stopChild(mgr, 15*time.Second) })
	if err := waitHTTP(ctx, mgr, "http://"+cfg.probeAddr+"/readyz", 60*time.Second); err != nil {
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
