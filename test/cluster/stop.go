package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hostPaths are the paths outside the cluster's directory that the kubelet,
// containerd or the CNI plugins create on their own (or might): Stop removes
// the ones that did not exist before Start and reports any it cannot.
var hostPaths = []string{
	"/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/run/containerd", "/run/netns",
	"/var/lib/cni", "/etc/cni", "/opt/cni", "/var/lib/containerd", "/etc/containerd", "/etc/kubernetes", "/opt/containerd",
}

// hostSnapshot is what existed on the machine before Start.
type hostSnapshot struct {
	Taken bool
	Paths map[string]bool // hostPaths that existed
	NetNS map[string]bool // names in /run/netns
	Links map[string]bool // network interfaces of the machine's namespace
}

func snapshotHost() hostSnapshot {
	s := hostSnapshot{Taken: true, Paths: map[string]bool{}, NetNS: map[string]bool{}, Links: map[string]bool{}}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.Paths[p] = true
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		s.NetNS[e.Name()] = true
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		s.Links[i.Name] = true
	}
	return s
}

// Stop stops the cluster and removes everything Start made, in this order:
// the kubelet (so that it restarts nothing), the containers, the other
// daemons, any process left in the cluster's network namespace (shims) or in
// the kubelet's cgroups (containers), the mounts under Dir, the pods' and the
// cluster's network namespaces (with the bridge and the veths), the
// kubelet's cgroups, the paths created outside Dir, and Dir. It returns what
// it could not undo; it is safe to call on a partly started cluster.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	var errs []error
	c.stopProcess("kubelet")
	if c.Dir != "" && c.running("containerd") {
		sock := filepath.Join(c.Dir, "containerd", "containerd.sock")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if out, err := execOut(ctx, "ctr", "-a", sock, "-n", "k8s.io", "tasks", "ls", "-q"); err == nil {
			tasks := strings.Fields(out)
			for _, t := range tasks {
				_ = run(ctx, "ctr", "-a", sock, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", t)
			}
			for _, t := range tasks {
				_ = run(ctx, "ctr", "-a", sock, "-n", "k8s.io", "tasks", "delete", "-f", t)
			}
		}
		cancel()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.stopProcess(c.procs[i].name)
	}
	// Whatever is left: shims (in the cluster's network namespace) and
	// containers (in the kubelet's cgroups).
	if err := c.killLeftovers(); err != nil {
		errs = append(errs, err)
	}
	if c.Dir != "" {
		if err := unmountUnder(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.host.Taken {
		entries, _ := os.ReadDir("/run/netns")
		for _, e := range entries {
			if !c.host.NetNS[e.Name()] && e.Name() != c.NetNS {
				if err := run(context.Background(), "ip", "netns", "del", e.Name()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if c.nsMade {
		if err := run(context.Background(), "ip", "netns", "del", c.NetNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if c.host.Taken {
		for _, p := range hostPaths {
			if c.host.Paths[p] {
				continue
			}
			if _, err := os.Lstat(p); err != nil {
				continue
			}
			if err := unmountUnder(p); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			}
		}
	}
	if c.Dir != "" {
		if m := mountsUnder(c.Dir); len(m) > 0 {
			errs = append(errs, fmt.Errorf("not removing %s: still mounted: %s", c.Dir, strings.Join(m, " ")))
		} else if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.Dir, err))
		}
	}
	errs = append(errs, c.leftovers()...)
	if c.lock != nil {
		if len(errs) == 0 {
			_ = os.Remove(stateFile) // nothing left to recover
		}
		c.lock.Close()
		c.lock = nil
	}
	c.procs = nil
	c.nsMade = false
	c.Dir = ""
	return errors.Join(errs...)
}

// stateFile records the running cluster (state), so that the next Start can
// remove what a cluster whose test process was killed left behind.
const stateFile = "/run/lock/flyte-admission-test-cluster.json"

// state is what Stop needs to clean up after a cluster.
type state struct {
	NetNS string
	Dir   string
	Host  hostSnapshot
}

func (c *Cluster) saveState() error {
	b, err := json.Marshal(state{NetNS: c.NetNS, Dir: c.Dir, Host: c.host})
	if err != nil {
		return fmt.Errorf("cluster state: %w", err)
	}
	if err := os.WriteFile(stateFile, b, 0o600); err != nil {
		return fmt.Errorf("cluster state: %w", err)
	}
	return nil
}

// recoverStale cleans up after a cluster whose process died without
// stopping it (the daemons die with it; its shims, containers, mounts,
// network namespaces and cgroups do not). The caller holds the lock, so no
// other cluster is running.
func recoverStale(logf func(string, ...any)) error {
	b, err := os.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stale cluster state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("stale cluster state %s: %w", stateFile, err)
	}
	if !strings.HasPrefix(st.NetNS, netnsPrefix) || !strings.HasPrefix(filepath.Base(st.Dir), "fac-") {
		return fmt.Errorf("stale cluster state %s names netns %q and dir %q, not this package's", stateFile, st.NetNS, st.Dir)
	}
	logf("cluster: cleaning up after a cluster that was not stopped (netns %s, dir %s)", st.NetNS, st.Dir)
	stale := &Cluster{NetNS: st.NetNS, nsPath: "/run/netns/" + st.NetNS, Dir: st.Dir, host: st.Host}
	if _, err := os.Lstat(stale.nsPath); err == nil {
		stale.nsMade = true
	}
	if _, err := os.Stat(stale.Dir); err != nil {
		stale.Dir = ""
	}
	if err := stale.Stop(); err != nil {
		return fmt.Errorf("cleaning up the stale cluster: %w", err)
	}
	return os.Remove(stateFile)
}

// leftovers checks that nothing of the cluster remains on the machine.
func (c *Cluster) leftovers() []error {
	var errs []error
	if c.NetNS != "" {
		if _, err := os.Lstat("/run/netns/" + c.NetNS); err == nil {
			errs = append(errs, fmt.Errorf("leftover: network namespace %s", c.NetNS))
		}
	}
	if cg := kubeletCgroups(); len(cg) > 0 {
		errs = append(errs, fmt.Errorf("leftover: cgroups %s", strings.Join(cg, " ")))
	}
	if !c.host.Taken {
		return errs
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if !c.host.NetNS[e.Name()] {
			errs = append(errs, fmt.Errorf("leftover: network namespace %s", e.Name()))
		}
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if !c.host.Links[i.Name] {
			errs = append(errs, fmt.Errorf("leftover: network interface %s in the machine's namespace", i.Name))
		}
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil && !c.host.Paths[p] {
			errs = append(errs, fmt.Errorf("leftover: %s", p))
		}
	}
	return errs
}

// running reports whether the daemon name was started and has not exited.
func (c *Cluster) running(name string) bool {
	for _, p := range c.procs {
		if p.name == name {
			select {
			case <-p.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// stopProcess sends SIGTERM to a daemon's process group, and SIGKILL after
// 15 s.
func (c *Cluster) stopProcess(name string) {
	for _, p := range c.procs {
		if p.name != name || p.cmd.Process == nil {
			continue
		}
		select {
		case <-p.done:
			continue
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// nsLink is the cluster's network namespace as /proc/PID/ns/net names it
// ("" before it exists).
func (c *Cluster) nsLink() string {
	var st unix.Stat_t
	if !c.nsMade || unix.Stat(c.nsPath, &st) != nil {
		return ""
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// HostSockets lists the TCP and UDP sockets of the machine's own network
// namespace (the caller's) that a process of the cluster holds: daemons,
// shims and containers. It is empty when the cluster keeps to its network
// namespace.
func (c *Cluster) HostSockets() ([]string, error) {
	nsLink := c.nsLink()
	if nsLink == "" {
		return nil, errors.New("the cluster's network namespace does not exist")
	}
	host := map[string]string{} // socket inode -> "tcp local remote"
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		lines := readLines("/proc/self/net/" + proto)
		if len(lines) == 0 {
			continue
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > 9 {
				host[f[9]] = proto + " " + f[1] + " " + f[2]
			}
		}
	}
	pids := c.processes(nsLink)
	if len(pids) == 0 {
		return nil, errors.New("no process of the cluster found")
	}
	var out []string
	for pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if s, ok := host[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")]; ok {
				out = append(out, fmt.Sprintf("pid %d: %s", pid, s))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// killLeftovers kills every process in the cluster's network namespace and
// in the kubelet's cgroups, and waits (at most 30 s) until they are gone.
func (c *Cluster) killLeftovers() error {
	nsLink := c.nsLink()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := c.processes(nsLink)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var l []string
			for p := range pids {
				l = append(l, strconv.Itoa(p))
			}
			sort.Strings(l)
			return fmt.Errorf("leftover: processes %s survive SIGKILL", strings.Join(l, " "))
		}
		for p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// processes are the live processes in the network namespace nsLink
// ("net:[inode]", none if empty) and in the kubelet's cgroups.
func (c *Cluster) processes(nsLink string) map[int]bool {
	pids := map[int]bool{}
	if nsLink != "" {
		procs, _ := os.ReadDir("/proc")
		for _, e := range procs {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l == nsLink && !zombie(pid) {
				pids[pid] = true
			}
		}
	}
	for _, cg := range kubeletCgroups() {
		for _, l := range readLines(filepath.Join(cg, "cgroup.procs")) {
			if pid, err := strconv.Atoi(strings.TrimSpace(l)); err == nil && !zombie(pid) {
				pids[pid] = true
			}
		}
	}
	return pids
}

// zombie reports whether pid has exited (or is gone) and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// mountsUnder lists the mount points at or under dir, deepest first.
func mountsUnder(dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, l := range readLines("/proc/self/mountinfo") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		mp := strings.ReplaceAll(f[4], `\040`, " ")
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unmountUnder detaches every mount at or under dir (stacked ones too).
func unmountUnder(dir string) error {
	for range 10 {
		m := mountsUnder(dir)
		if len(m) == 0 {
			return nil
		}
		for _, mp := range m {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	if m := mountsUnder(dir); len(m) > 0 {
		return fmt.Errorf("leftover: mounts %s", strings.Join(m, " "))
	}
	return nil
}

// kubeletCgroups lists the kubelet's cgroup trees (kubepods, under every v1
// hierarchy and the v2 root), deepest first.
func kubeletCgroups() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if fi, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil && fi.IsDir() {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	var out []string
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// removeCgroups removes the kubelet's (empty) cgroups; a cgroup that still
// has processes cannot be removed, and is reported.
func removeCgroups() error {
	var errs []error
	for _, cg := range kubeletCgroups() {
		if err := unix.Rmdir(cg); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", cg, err))
		}
	}
	return errors.Join(errs...)
}

// execOut runs a command and returns its standard output.
func execOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}
