//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr gives the child a process group of its own when asked. Pdeathsig is Linux-only:
// elsewhere a child outlives a killed parent unless the caller's cleanup stops it.
func sysProcAttr(ownGroup bool, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}
