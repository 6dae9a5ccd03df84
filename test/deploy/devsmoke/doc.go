// Package devsmoke is the smoke test of `make dev`, the one-command demo: run headless, it must
// come up, ask for a login, become Ready after `mcpproxy auth login demo`, refresh the token, and
// stop on Ctrl-C (SIGINT to its process group) leaving no process behind.
package devsmoke
