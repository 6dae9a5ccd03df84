// Package attacker holds the hostile loopback servers tests play against: they import
// nothing of ours, so any package's tests may use them.
package attacker

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Tarpit listens on loopback, accepts every connection and never answers. It returns an
// http URL ending in /mcp and the count of accepted connections (a test that never reached
// the tarpit proves nothing). Everything is closed when the test ends.
func Tarpit(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			held = append(held, c) // never read, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/mcp", &accepted
}
