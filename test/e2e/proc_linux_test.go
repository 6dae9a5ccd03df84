package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child when the test process dies (a panic or the go
// test timeout), so no manager or OAuth server outlives a broken run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
