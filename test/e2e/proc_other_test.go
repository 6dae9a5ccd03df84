//go:build !linux

package e2e

import "os/exec"

// dieWithParent is Linux-only (Pdeathsig); elsewhere TestMain's cleanup has to do.
func dieWithParent(*exec.Cmd) {}
