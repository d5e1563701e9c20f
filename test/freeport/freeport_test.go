package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPortsAreFreeAndDistinct(t *testing.T) {
	a, b := Port(t), Port(t)
	require.Positive(t, a)
	require.Positive(t, b)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(a))
	require.NoError(t, err, "the port is free")
	require.NoError(t, l.Close())

	addr := Loopback(t)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
}
