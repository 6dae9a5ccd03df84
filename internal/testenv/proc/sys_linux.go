package proc

import "syscall"

// sysProcAttr makes the kernel send death to the child when this process dies, and gives it
// a process group of its own when asked.
func sysProcAttr(ownGroup bool, death syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: death}
}
