// Package proc reads a process's CPU time and memory from /proc, for the
// benchmarks that measure flyte-admission as a separate process.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on Linux for every architecture Go supports).
const clockTicks = 100

// CPUSeconds is the process's user + system CPU time in seconds.
func CPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	// fields[0] is the state (field 3 of proc(5)): utime and stime are
	// fields 14 and 15.
	ut, err := strconv.ParseFloat(fields[11], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat utime: %w", pid, err)
	}
	st, err := strconv.ParseFloat(fields[12], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat stime: %w", pid, err)
	}
	return (ut + st) / clockTicks, nil
}

// Memory is a process's memory figures from /proc/<pid>/status, in bytes.
type Memory struct {
	RSS, HWM, RssAnon, RssFile int64
}

// ReadMemory reads /proc/<pid>/status: VmRSS (resident now), VmHWM (peak
// resident), RssAnon and RssFile.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.HWM, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if p := fields[name]; ok && p != nil {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return Memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
			}
			*p = kb << 10
			delete(fields, name)
		}
	}
	if len(fields) > 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status: no %v", pid, fields)
	}
	return m, nil
}

// Children returns the ids of the processes whose parent is ppid and whose
// command name (comm, at most 15 bytes) is name.
func Children(ppid int, name string) ([]int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since ReadDir
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || end+2 > len(s) {
			return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
		fields := strings.Fields(s[end+2:])
		// fields[1] is the parent's id (field 4 of proc(5)).
		if len(fields) < 2 || s[open+1:end] != name || fields[1] != strconv.Itoa(ppid) {
			continue
		}
		out = append(out, pid)
	}
	return out, nil
}
