// Package devsmoke is the smoke test of `make dev`, the one-command demo: run headless, it must
// come up, show how to log in and how a workload calls the gateway, ask for a login, become
// Ready after `mcpproxy auth login demo`, refresh the token, and stop on Ctrl-C (SIGINT to its
// process group) leaving no process behind. TestGettingStartedGuide runs docs/getting-started.md
// against it, block by block, and matches every output the guide shows.
package devsmoke
