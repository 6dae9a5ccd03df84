package secretstore_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// BenchmarkSave measures CAS saves (Update at the resourceVersion read from the view) on
// envtest's API server and etcd, one goroutine and 32, each on its own records.
//
//	go test -run '^$' -bench . -benchtime 500x ./internal/secretstore/
func BenchmarkSave(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			s := open(b, clientset(b, testenv.Current().Config), newNamespace(b), storetest.KeyFile(b, 1))
			revs := make([]uint64, par)
			keys := make([]tokenstore.Key, par)
			for i := range par {
				keys[i] = storetest.TestKey(fmt.Sprintf("bench-%d", i))
				rev, err := s.Save(keys[i], storetest.TestRecord(keys[i]), 0)
				if err != nil {
					b.Fatal(err)
				}
				revs[i] = rev
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for i := range par {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						rev, err := s.Save(keys[i], storetest.TestRecord(keys[i]), revs[i])
						if err != nil {
							b.Error(err)
							return
						}
						revs[i] = rev
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
		})
	}
}

// BenchmarkLoad measures a Load: a map lookup and the AES-GCM open, no API call.
func BenchmarkLoad(b *testing.B) {
	s := open(b, clientset(b, testenv.Current().Config), newNamespace(b), storetest.KeyFile(b, 1))
	k := storetest.TestKey("bench")
	if _, err := s.Save(k, storetest.TestRecord(k), 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Load(k); err != nil {
			b.Fatal(err)
		}
	}
}
