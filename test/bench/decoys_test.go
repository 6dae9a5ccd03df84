package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDecoysSmoke runs the decoy measurement reduced (8 decoys, no wait for a GC) so that
// `make bench-decoys` cannot rot. It asserts that the figures come out, not what they are:
// internal/app's TestLabelledJunkSecretsCostTheCacheTheirNamesNotTheirData bounds the heap.
func TestDecoysSmoke(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
	}
	cfg := SmokeConfig()
	cfg.OutDir = t.TempDir()
	cfg.WorkDir = t.TempDir()
	cfg.Log = testWriter{t}
	res, err := RunDecoys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Completed {
		t.Fatalf("the run did not complete: %s", res.Problem)
	}
	checks := map[string]bool{
		"every kind":  len(res.Kinds) == len(decoyKinds("")) && res.Kinds["orphan"] == cfg.Decoys/4,
		"memory":      res.Before.HeapInuseBytes > 0 && res.After.HeapInuseBytes > 0 && res.After.RSSBytes > 0,
		"peak RSS":    res.After.PeakRSSBytes >= res.After.RSSBytes,
		"rejections":  res.Candidates > 0 && res.Rejected > 0,
		"manager GET": res.ManagerGETs > 0,
		"settled":     res.SettledSeconds >= res.CreateSeconds,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("no figure for %s: %+v", what, res)
		}
	}
	for _, f := range []string{"decoys.json", "decoys.md"} {
		if st, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s was not written: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(cfg.OutDir, "decoys.md"))
	t.Logf("\n%s", md)
}
