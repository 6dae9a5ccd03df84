package tokenstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

const benchServers = 10_000

// benchTemplate is a closed store file with benchServers records, built once
// per test binary and copied for every benchmark.
var benchTemplate struct {
	once sync.Once
	dir  string
	revs []uint64
	err  error
}

func benchKey(i int) Key { return testKey(fmt.Sprintf("bench-%05d", i)) }

func benchFile(b *testing.B) (string, []uint64) {
	b.Helper()
	t := &benchTemplate
	t.once.Do(func() {
		t.dir, t.err = os.MkdirTemp("", "tokenstore-bench")
		if t.err != nil {
			return
		}
		s, err := Open(filepath.Join(t.dir, "tokens.db"), Options{NoSync: true})
		if t.err = err; err != nil {
			return
		}
		defer s.Close()
		t.revs = make([]uint64, benchServers)
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < benchServers; i += 16 {
					k := benchKey(i)
					rev, err := s.Save(k, testRecord(k), 0)
					if err != nil {
						failed.Store(err)
						return
					}
					t.revs[i] = rev
				}
			})
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			t.err = err
		}
	})
	if t.err != nil {
		b.Fatal(t.err)
	}
	dir := b.TempDir()
	for _, name := range []string{"tokens.db", "tokens.db.key"} {
		copyFile(b, filepath.Join(t.dir, name), filepath.Join(dir, name))
	}
	return filepath.Join(dir, "tokens.db"), append([]uint64(nil), t.revs...)
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSave updates existing records of 10,000 servers with CAS, with
// and without fsync, from one goroutine and from 16 per core.
func BenchmarkSave(b *testing.B) {
	for _, sync := range []bool{true, false} {
		mode := map[bool]string{true: "fsync", false: "nosync"}[sync]
		b.Run(mode+"/serial", func(b *testing.B) {
			path, revs := benchFile(b)
			s := openTest(b, path, Options{NoSync: !sync})
			recs := benchRecords()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				n := i % benchServers
				rev, err := s.Save(benchKey(n), recs[n%len(recs)], revs[n])
				if err != nil {
					b.Fatal(err)
				}
				revs[n] = rev
			}
		})
		b.Run(mode+"/parallel", func(b *testing.B) {
			path, revs := benchFile(b)
			s := openTest(b, path, Options{NoSync: !sync})
			recs := benchRecords()
			const stride = 64 // more than the goroutines RunParallel starts: disjoint servers
			var ids atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := int(ids.Add(1) - 1)
				if id >= stride {
					panic("too many goroutines for stride")
				}
				for n := id; pb.Next(); n = (n + stride) % (benchServers - benchServers%stride) {
					rev, err := s.Save(benchKey(n), recs[n%len(recs)], revs[n])
					if err != nil {
						b.Error(err)
						return
					}
					revs[n] = rev
				}
			})
		})
	}
}

// benchRecords pre-builds records so that the benchmark measures the store.
func benchRecords() []*Record {
	out := make([]*Record, 0, 64)
	for i := range 64 {
		out = append(out, &Record{AccessToken: secretAccess, RefreshToken: secretRefresh, TokenType: "Bearer",
			Scopes: []string{"mcp"}, RefreshCount: int64(i), CorrelationID: "bench"})
	}
	return out
}

// BenchmarkLoad reads random records of 10,000 servers.
func BenchmarkLoad(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		path, _ := benchFile(b)
		s := openTest(b, path, Options{})
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Load(benchKey((i * 7919) % benchServers)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		path, _ := benchFile(b)
		s := openTest(b, path, Options{})
		var ids atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := int(ids.Add(1)) * 1000; pb.Next(); i++ {
				if _, err := s.Load(benchKey((i * 7919) % benchServers)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkOpen opens a store of 10,000 servers, including the consistency
// check and the schema transaction.
func BenchmarkOpen(b *testing.B) {
	path, _ := benchFile(b)
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
	fi, _ := os.Stat(path)
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
}
