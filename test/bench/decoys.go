package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// The decoy run (issue 16, "cheap watches") measures what labelled junk Secrets cost the
// manager. The manager watches Secrets labelled mcpproxy.dev/upstream-server (login hand-overs);
// an ordinary tenant can label any Secret so. It caches their metadata only, so N labelled
// Secrets of 1 MiB should cost it N names, not N MiB.

// decoyTenant is the user who creates the decoys: Secret rights in the namespace, nothing else.
const decoyTenant = "tenant"

// decoyFinalizer is the tenant's own finalizer: the manager's deletes leave its decoys in place.
const decoyFinalizer = "tenant.example/keep"

// decoyKind is one way of labelling a Secret that the manager treats differently.
type decoyKind struct {
	Name, Server, Key string
	Type              corev1.SecretType
	// What says what the manager does with it, for the report.
	What string
}

// decoyKinds are cycled through; the orphans come last, and the last decoy created is one. All
// but one carry the hand-over type, so that a cache that also selects by type sees them.
func decoyKinds(server string) []decoyKind {
	return []decoyKind{
		// Hand-over candidates for a live server: read whole from the API server, rejected.
		{Name: "login", Server: server, Key: mcpv1alpha1.HandOverDataKey, Type: mcpv1alpha1.HandOverSecretType,
			What: "type mcpproxy.dev/login naming the live server: hand-over candidates, read whole and rejected"},
		// The label without the type: read and rejected the same way.
		{Name: "opaque", Server: server, Key: "junk", Type: corev1.SecretTypeOpaque,
			What: "type Opaque naming the live server: read and rejected the same way, unless the cache selects hand-overs by type too"},
		// The label naming nothing: no reconcile ever comes.
		{Name: "nameless", Server: "", Key: mcpv1alpha1.HandOverDataKey, Type: mcpv1alpha1.HandOverSecretType,
			What: "type mcpproxy.dev/login with an empty label value: nothing to reconcile, left alone"},
		// Naming a server that does not exist: deleted as orphans (the finalizer keeps them).
		{Name: "orphan", Server: "no-such-server", Key: mcpv1alpha1.HandOverDataKey, Type: mcpv1alpha1.HandOverSecretType,
			What: "type mcpproxy.dev/login naming a server that does not exist: deleted as orphans, never read"},
	}
}

// DecoyResult is the decoy run: the manager's memory before and after the tenant's decoys.
type DecoyResult struct {
	Date    string `json:"date"`
	Commit  string `json:"commit"`
	Machine string `json:"machine"`
	Note    string `json:"note,omitempty"`
	// Decoys of DecoyBytes each; Kinds counts them by kind.
	Decoys     int            `json:"decoys"`
	DecoyBytes int            `json:"decoyBytes"`
	Kinds      map[string]int `json:"kinds"`
	// CreateSeconds is the tenant's creates, first to last; SettledSeconds from the first create
	// until the manager had deleted every orphan (so its watch had delivered every decoy) and
	// its work queue was empty.
	CreateSeconds  float64 `json:"createSeconds"`
	SettledSeconds float64 `json:"settledSeconds"`
	// Before is the manager with one logged-in server; After the same with the decoys.
	Before MemFigures `json:"before"`
	After  MemFigures `json:"after"`
	// ManagerGETs counts the manager's GET requests to the API server from the first create
	// until After was taken.
	ManagerGETs float64 `json:"managerGETs"`
	// Candidates is how many decoys name the live server; Rejected how many of those the
	// manager had deleted (they stay, terminating, for the finalizer) when After was taken.
	Candidates int `json:"candidates"`
	Rejected   int `json:"rejected"`
	// The live server's token refreshes from the first create until After was taken, its token
	// lifetime, and whether its session was up at the end.
	VictimRefreshes int     `json:"victimRefreshes"`
	PhaseSeconds    float64 `json:"phaseSeconds"`
	TokenTTLSeconds float64 `json:"tokenTTLSeconds"`
	VictimConnected bool    `json:"victimConnected"`
	Completed       bool    `json:"completed"`
	Problem         string  `json:"problem,omitempty"`
}

// MemFigures is the manager's memory at one point.
type MemFigures struct {
	RSSBytes       float64 `json:"rssBytes"`
	PeakRSSBytes   float64 `json:"peakRSSBytes"`
	HeapInuseBytes float64 `json:"heapInuseBytes"`
	HeapAllocBytes float64 `json:"heapAllocBytes"`
	// LiveHeapBytes is the heap the first garbage collection after the point marked live
	// (GODEBUG=gctrace=1, whole MB); 0 when none came within Config.GCWait.
	LiveHeapBytes float64 `json:"liveHeapBytes"`
}

// RunDecoys measures the manager's memory before and after a tenant creates cfg.Decoys labelled
// Secrets of 1 MiB in the namespace of one logged-in server, and writes decoys.json and
// decoys.md into cfg.OutDir.
func RunDecoys(cfg Config) (*DecoyResult, error) {
	cfg, bin, cleanup, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res := &DecoyResult{Date: time.Now().UTC().Format(time.RFC3339), Commit: commit(cfg.RepoRoot), Machine: machine(),
		Note: cfg.Note, Decoys: cfg.Decoys, DecoyBytes: corev1.MaxSecretSize, TokenTTLSeconds: cfg.TokenTTL.Seconds()}
	if err := runDecoys(cfg, bin, res); err != nil {
		res.Problem = err.Error()
		logf(cfg, "decoys: %v", err)
	} else {
		res.Completed = true
	}
	if err := writeDecoyReport(cfg.OutDir, res); err != nil {
		return res, err
	}
	return res, nil
}

func runDecoys(cfg Config, bin string, res *DecoyResult) error {
	dir := filepath.Join(cfg.WorkDir, "decoys")
	logf(cfg, "decoys: starting the control plane and the OAuth server")
	cp, err := controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), dir)
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	a, err := startAuthServer(1, 0, cfg.TokenTTL)
	if err != nil {
		return err
	}
	defer a.close()
	c, err := newClient(cp.Config)
	if err != nil {
		return err
	}
	m, err := startManager(managerArgs{bin: bin, kubeconfig: cp.KubeconfigPath, store: filepath.Join(dir, "store", "tokens.db"),
		maxConcurrent: cfg.MaxConcurrentReconciles, logDir: dir, env: []string{"GODEBUG=gctrace=1"}})
	if err != nil {
		return err
	}
	defer m.stop()
	ctx := context.Background()
	victim, err := seedOne(ctx, c, a, 0)
	if err != nil {
		return fmt.Errorf("seeding the server: %w", err)
	}
	if _, err := waitConnected(m, 1, 2*time.Minute); err != nil {
		return fmt.Errorf("the server did not connect: %w", err)
	}
	tenant, err := tenantClient(c, cp.Config)
	if err != nil {
		return err
	}
	if err := waitIdle(m, time.Minute); err != nil {
		return err
	}
	logf(cfg, "decoys: the manager with one logged-in server (waiting up to %s for a GC)", cfg.GCWait)
	if res.Before, err = memFigures(cfg, m, time.Now()); err != nil {
		return err
	}
	m0, err := m.scrape()
	if err != nil {
		return err
	}

	kinds := decoyKinds(victim.name)
	logf(cfg, "decoys: the tenant creates %d labelled Secrets of 1 MiB", cfg.Decoys)
	start := time.Now()
	if res.Kinds, err = createDecoys(tenant, kinds, cfg.Decoys, 4); err != nil {
		return err
	}
	res.CreateSeconds = time.Since(start).Seconds()
	logf(cfg, "decoys: created in %.1fs; waiting until the manager has seen them all", res.CreateSeconds)
	orphans := res.Kinds["orphan"]
	if err := waitFor(10*time.Minute, func() bool {
		n, _ := terminating(c, "no-such-server")
		return n == orphans
	}); err != nil {
		n, _ := terminating(c, "no-such-server")
		return fmt.Errorf("the manager deleted %d of %d orphans: %w", n, orphans, err)
	}
	if err := waitIdle(m, 10*time.Minute); err != nil {
		return err
	}
	res.SettledSeconds = time.Since(start).Seconds()
	logf(cfg, "decoys: the manager settled %.1fs after the first create (waiting up to %s for a GC)", res.SettledSeconds, cfg.GCWait)
	if res.After, err = memFigures(cfg, m, time.Now()); err != nil {
		return err
	}
	end := time.Now()
	res.PhaseSeconds = end.Sub(start).Seconds()
	res.Candidates = res.Kinds["login"] + res.Kinds["opaque"]
	res.Rejected, _ = terminating(c, victim.name)
	res.VictimRefreshes, _, _ = a.rec.countBetween(start, end)
	m1, err := m.scrape()
	if err != nil {
		return err
	}
	res.ManagerGETs = m1.sum("rest_client_requests_total", `method="GET"`) - m0.sum("rest_client_requests_total", `method="GET"`)
	res.VictimConnected = m1.countEqual("mcpproxy_server_connected", 1) == 1
	logf(cfg, "decoys: live heap %s → %s, heap in use %s → %s, RSS %s → %s (peak %s); %d manager GETs; the server refreshed %d times in %.0fs",
		mb(res.Before.LiveHeapBytes), mb(res.After.LiveHeapBytes), mb(res.Before.HeapInuseBytes), mb(res.After.HeapInuseBytes),
		mb(res.Before.RSSBytes), mb(res.After.RSSBytes), mb(res.After.PeakRSSBytes), int(res.ManagerGETs), res.VictimRefreshes, res.PhaseSeconds)
	return nil
}

// tenantClient gives decoyTenant a Role on Secrets in benchNamespace and returns a client
// acting as it, once RBAC lets it list them.
func tenantClient(admin client.Client, cfg *rest.Config) (client.Client, error) {
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant-secrets", Namespace: benchNamespace},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			Verbs: []string{"create", "get", "list", "watch", "update", "patch", "delete"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-secrets", Namespace: benchNamespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: decoyTenant}}}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: decoyTenant}
	tenant, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	var lastErr error
	if err := waitFor(30*time.Second, func() bool {
		lastErr = tenant.List(ctx, &corev1.SecretList{}, client.InNamespace(benchNamespace))
		return lastErr == nil
	}); err != nil {
		return nil, fmt.Errorf("the tenant's Role: %w (%v)", err, lastErr)
	}
	return tenant, nil
}

// createDecoys creates n decoys, cycling through kinds, from workers clients at once, and then
// the last one alone: an orphan created after every other decoy. It returns the count by kind.
func createDecoys(c client.Client, kinds []decoyKind, n, workers int) (map[string]int, error) {
	payload := bytes.Repeat([]byte("junk"), corev1.MaxSecretSize/4) // one payload for all
	create := func(i int) error {
		k := kinds[i%len(kinds)]
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("decoy-%s-%05d", k.Name, i), Namespace: benchNamespace,
			Labels: map[string]string{mcpv1alpha1.HandOverServerLabel: k.Server}, Finalizers: []string{decoyFinalizer}},
			Type: k.Type, Data: map[string][]byte{k.Key: payload}}
		return c.Create(context.Background(), s)
	}
	last := n - 1
	for last%len(kinds) != len(kinds)-1 { // the last decoy is an orphan
		last--
	}
	idx := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range workers {
		wg.Go(func() {
			for i := range idx {
				if err := create(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		if i != last {
			idx <- i
		}
	}
	close(idx)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("creating decoys: %w", firstErr)
	}
	if err := create(last); err != nil {
		return nil, fmt.Errorf("creating decoys: %w", err)
	}
	count := map[string]int{}
	for i := range n {
		count[kinds[i%len(kinds)].Name]++
	}
	return count, nil
}

// terminating counts the decoys labelled for server that the manager has deleted (the
// finalizer keeps them, with a deletion timestamp).
func terminating(c client.Client, server string) (int, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := c.List(context.Background(), list, client.InNamespace(benchNamespace),
		client.MatchingLabels{mcpv1alpha1.HandOverServerLabel: server}); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list.Items {
		if s.DeletionTimestamp != nil {
			n++
		}
	}
	return n, nil
}

// waitIdle waits until the manager's work queue is empty and no reconcile runs.
func waitIdle(m process, timeout time.Duration) error {
	err := waitFor(timeout, func() bool {
		s, err := m.scrape()
		return err == nil && s.sum("workqueue_depth", `name="upstreamserver"`) == 0 &&
			s.sum("controller_runtime_active_workers", `controller="upstreamserver"`) == 0
	})
	if err != nil {
		return fmt.Errorf("the manager did not go idle: %w", err)
	}
	return nil
}

// memFigures reads the manager's RSS and Go heap now, and its live heap from the first garbage
// collection after at (waiting up to cfg.GCWait).
func memFigures(cfg Config, m *managerProc, at time.Time) (MemFigures, error) {
	var f MemFigures
	ps, err := m.procStats()
	if err != nil {
		return f, err
	}
	s, err := m.scrape()
	if err != nil {
		return f, err
	}
	f.RSSBytes, f.PeakRSSBytes = ps.RSSBytes, ps.PeakRSSBytes
	f.HeapInuseBytes, f.HeapAllocBytes = s.sum("go_memstats_heap_inuse_bytes"), s.sum("go_memstats_heap_alloc_bytes")
	if cfg.GCWait > 0 {
		// The trace counts from the runtime's start, a little after m.started: a collection
		// at more than at−m.started came after at.
		since := at.Sub(m.started).Seconds()
		_ = waitFor(cfg.GCWait, func() bool {
			live, ok := liveHeapAfter(m.logPath, since)
			f.LiveHeapBytes = live
			return ok
		})
	}
	return f, nil
}

// gcTrace matches a GODEBUG=gctrace=1 line: "gc 12 @3.456s 1%: … 4->4->2 MB, …", whose third
// heap figure is what the collection marked live.
var gcTrace = regexp.MustCompile(`gc \d+ @([0-9.]+)s .* (\d+)->(\d+)->(\d+) MB`)

// liveHeapAfter returns the live heap of the first collection in the manager's log that came
// more than since seconds after its start.
func liveHeapAfter(logPath string, since float64) (float64, bool) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		g := gcTrace.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		at, _ := strconv.ParseFloat(g[1], 64)
		live, _ := strconv.ParseFloat(g[4], 64)
		if at > since {
			return live * (1 << 20), true
		}
	}
	return 0, false
}

// writeDecoyReport writes decoys.json and decoys.md into dir.
func writeDecoyReport(dir string, res *DecoyResult) error {
	return writeJSONAndMarkdown(dir, "decoys", res, decoyMarkdown(res))
}

func decoyMarkdown(r *DecoyResult) string {
	var sb strings.Builder
	w := printf(func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) })
	w("# Labelled junk Secrets: what they cost the manager\n\n%s, source %s, on %s.\n\n", r.Date, r.Commit, r.Machine)
	if r.Note != "" {
		w("%s\n\n", r.Note)
	}
	w("A tenant with Secret rights in the namespace and nothing else created %d Secrets of %s each (%s in all), "+
		"labelled `%s`, each with a finalizer of its own so that the manager's deletes leave it in place, "+
		"in the namespace of one logged-in UpstreamServer (`make bench-decoys`, `BENCH_DECOYS=%d`):\n\n%s\n",
		r.Decoys, mb(float64(r.DecoyBytes)), mb(float64(r.Decoys*r.DecoyBytes)), mcpv1alpha1.HandOverServerLabel, r.Decoys, kindList(r.Kinds))
	if r.Problem != "" {
		w("The run did not complete: %s\n\n", r.Problem)
	}
	w("| manager | before | after | growth |\n|---|---|---|---|\n")
	row := func(name string, before, after float64) {
		if before == 0 && after == 0 {
			w("| %s | not measured | not measured | |\n", name)
			return
		}
		w("| %s | %s | %s | %+.1f MiB |\n", name, mb(before), mb(after), (after-before)/(1<<20))
	}
	row("live heap (the next GC's marked heap, gctrace)", r.Before.LiveHeapBytes, r.After.LiveHeapBytes)
	row("Go heap in use (`go_memstats_heap_inuse_bytes`)", r.Before.HeapInuseBytes, r.After.HeapInuseBytes)
	row("Go heap allocated (`go_memstats_heap_alloc_bytes`)", r.Before.HeapAllocBytes, r.After.HeapAllocBytes)
	row("RSS (`VmRSS`)", r.Before.RSSBytes, r.After.RSSBytes)
	row("peak RSS since start (`VmHWM`)", r.Before.PeakRSSBytes, r.After.PeakRSSBytes)
	w("\n- Creating the decoys took %.1f s; the manager had seen them all and was idle %.1f s after the first create.\n",
		r.CreateSeconds, r.SettledSeconds)
	w("- The manager sent %.0f GETs to the API server meanwhile (hand-overs are read uncached, one GET each per pass).\n", r.ManagerGETs)
	w("- Of the %d decoys naming the live server, %d had been rejected (deleted; kept by the finalizer).\n", r.Candidates, r.Rejected)
	connected := "connected"
	if !r.VictimConnected {
		connected = "**not connected**"
	}
	w("- The live server's token (lifetime %.0f s) was refreshed %d times in the %.0f s from the first create to the last figure; "+
		"its session was %s at the end.\n", r.TokenTTLSeconds, r.VictimRefreshes, r.PhaseSeconds, connected)
	return sb.String()
}

// kindList is a bullet per kind: how many, and what the manager does with them.
func kindList(kinds map[string]int) string {
	var sb strings.Builder
	for _, k := range decoyKinds("") {
		fmt.Fprintf(&sb, "- %d %s: %s\n", kinds[k.Name], k.Name, k.What)
	}
	return sb.String()
}

func mb(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
