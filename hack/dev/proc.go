package main

import (
	"syscall"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
)

// startChild starts bin with args through the shared runner (internal/testenv/proc),
// appending its output to logPath and passing each line to onLine (which may be nil). The
// child runs in its own process group, like envtest's etcd and kube-apiserver, so Ctrl-C
// reaches only devrun, which then stops the children in order (a second SIGINT would make the
// manager exit without cleaning up); it gets SIGTERM should devrun be killed outright.
func startChild(name, logPath string, env []string, onLine func(string), bin string, args []string) (*proc.Process, error) {
	return proc.Start(proc.Spec{Name: name, Path: bin, Args: args, Env: env, LogPath: logPath, AppendLog: true,
		OnLine: onLine, OwnGroup: true, DeathSignal: syscall.SIGTERM})
}

// stopChild sends SIGINT to the child's process group and waits up to grace, then kills it.
func stopChild(c *proc.Process, grace time.Duration) error {
	_, err := c.Stop(syscall.SIGINT, grace)
	return err
}
