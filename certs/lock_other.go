//go:build !unix

package certs

// lockDir is a no-op where flock is not available: local mode then assumes a
// single process per store directory.
func lockDir(string) (func(), error) { return func() {}, nil }
