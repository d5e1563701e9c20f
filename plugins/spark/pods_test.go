package spark

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJVMBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"512m": 512 << 20, "2g": 2 << 30, "2G": 2 << 30, "1024k": 1 << 20, "1t": 1 << 40, "100b": 100,
		"4096": 4096 << 20, "3gb": 3 << 30, " 1g ": 1 << 30,
	} {
		got, ok := jvmBytes(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "g", "1.5g", "-1g", "lots"} {
		_, ok := jvmBytes(bad)
		require.False(t, ok, bad)
	}
}
