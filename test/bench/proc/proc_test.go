package proc

import (
	"os"
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
