package proc

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelf(t *testing.T) {
	// Burn some CPU so the figure cannot be zero.
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i % 7
	}
	require.NotZero(t, x)
	cpu, err := CPUSeconds(os.Getpid())
	require.NoError(t, err)
	require.Greater(t, cpu, 0.0)

	m, err := ReadMemory(os.Getpid())
	require.NoError(t, err)
	require.Greater(t, m.RSS, int64(1<<20))
	require.GreaterOrEqual(t, m.HWM, m.RSS)
	require.GreaterOrEqual(t, m.RSS, m.RssAnon+m.RssFile, "VmRSS = RssAnon + RssFile + RssShmem")
	require.Greater(t, m.RssAnon, int64(0))
}

func TestMissingProcess(t *testing.T) {
	_, err := CPUSeconds(-1)
	require.Error(t, err)
	_, err = ReadMemory(-1)
	require.Error(t, err)
}

// TestChildren finds a child by its command name, and nothing by another.
func TestChildren(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pids, err := Children(os.Getpid(), "sleep")
	require.NoError(t, err)
	require.Equal(t, []int{cmd.Process.Pid}, pids)
	pids, err = Children(os.Getpid(), "no-such-command")
	require.NoError(t, err)
	require.Empty(t, pids)
}
