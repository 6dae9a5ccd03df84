package devsmoke

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// proc identifies a process across pid reuse: its pid and its start time (in clock ticks).
type proc struct {
	pid   int
	start string
	cmd   string
}

// readStat returns the parent pid and start time of pid from /proc/PID/stat.
func readStat(pid int) (ppid int, start string, err error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", err
	}
	// The command name is in parentheses and may hold spaces; fields follow the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, "", errors.New("short stat")
	}
	ppid, err = strconv.Atoi(f[1]) // field 4: ppid
	return ppid, f[19], err        // field 22: starttime
}

// descendants lists every living process below root.
func descendants(root int) []proc {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := readStat(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if _, start, err := readStat(c); err == nil {
				cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c), "cmdline"))
				out = append(out, proc{pid: c, start: start, cmd: strings.ReplaceAll(string(cmd), "\x00", " ")})
			}
			queue = append(queue, c)
		}
	}
	return out
}

// alive reports whether p still runs (a zombie counts as gone: it holds no resources).
func (p proc) alive() bool {
	_, start, err := readStat(p.pid)
	if err != nil || start != p.start {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.pid), "stat"))
	if err != nil {
		return false
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z") {
		return false
	}
	return true
}

// kill ends p if it is still the same process.
func (p proc) kill() {
	if p.alive() {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}
