package browserlogin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// browser counts opens per URL.
type browser struct {
	mu    sync.Mutex
	opens []string
}

func (b *browser) open(url string) error {
	b.mu.Lock()
	b.opens = append(b.opens, url)
	b.mu.Unlock()
	return nil
}

func (b *browser) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.opens) }

func newTest(t *testing.T) (*Coordinator, *fakeClock, *browser) {
	t.Helper()
	clk := &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	b := &browser{}
	c := New(Options{OpenBrowser: b.open, Now: clk.Now, BrowserInterval: 5 * time.Minute, MaxFlowAge: 6 * time.Minute})
	t.Cleanup(c.Close)
	return c, clk, b
}

// blockingFlow opens the browser, then waits for release or cancellation.
func blockingFlow(calls *atomic.Int32, release <-chan struct{}) Func {
	return func(ctx context.Context, open func(string) error) error {
		calls.Add(1)
		if err := open("https://as.example/authorize?x=1"); err != nil {
			return err
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func waitDone(t *testing.T, f *Flow) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-f.Done():
		return f.Err()
	case <-ctx.Done():
		t.Fatal("flow did not finish within 10s")
		return nil
	}
}

// waitOpens polls until the browser was opened n times.
func waitOpens(t *testing.T, b *browser, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("browser opened %d times within 10s, want %d", b.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentRequestsForOneServerRunOneFlow(t *testing.T) {
	c, _, b := newTest(t)
	var calls atomic.Int32
	release := make(chan struct{})
	fn := blockingFlow(&calls, release)

	flows := make([]*Flow, 20)
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _, err := c.Request("ns/a", fn)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			flows[i] = f
		}()
	}
	wg.Wait()
	for i, f := range flows {
		if f != flows[0] {
			t.Fatalf("request %d got a different flow", i)
		}
	}
	close(release)
	if err := waitDone(t, flows[0]); err != nil {
		t.Fatalf("flow: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("flows run = %d, want 1", n)
	}
	if n := b.count(); n != 1 {
		t.Errorf("browser opens = %d, want 1", n)
	}
	if c.Running("ns/a") != nil {
		t.Error("a finished flow is still registered")
	}
}

func TestTwoServersRunTwoFlows(t *testing.T) {
	c, _, b := newTest(t)
	var calls atomic.Int32
	release := make(chan struct{})
	fa, _, errA := c.Request("ns/a", blockingFlow(&calls, release))
	fb, _, errB := c.Request("ns/b", blockingFlow(&calls, release))
	if errA != nil || errB != nil {
		t.Fatalf("requests: %v, %v", errA, errB)
	}
	if fa == fb {
		t.Fatal("two servers share a flow")
	}
	close(release)
	if err := errors.Join(waitDone(t, fa), waitDone(t, fb)); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || b.count() != 2 {
		t.Errorf("flows = %d, opens = %d, want 2 and 2", calls.Load(), b.count())
	}
}

func TestBrowserRateLimitIsPerServer(t *testing.T) {
	c, clk, b := newTest(t)
	failing := func(ctx context.Context, open func(string) error) error {
		if err := open("https://as.example/authorize"); err != nil {
			return err
		}
		return errors.New("user closed the browser")
	}
	f, _, err := c.Request("ns/a", failing)
	if err != nil {
		t.Fatal(err)
	}
	_ = waitDone(t, f)

	clk.Step(4 * time.Minute)
	if _, _, err := c.Request("ns/a", failing); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second request within 5m: err = %v, want ErrRateLimited", err)
	}
	other, _, err := c.Request("ns/b", failing)
	if err != nil {
		t.Fatalf("another server is limited too: %v", err)
	}
	_ = waitDone(t, other)

	clk.Step(time.Minute + time.Second)
	f, _, err = c.Request("ns/a", failing)
	if err != nil {
		t.Fatalf("request after the window: %v", err)
	}
	_ = waitDone(t, f)
	if n := b.count(); n != 3 {
		t.Errorf("browser opens = %d, want 3 (a, b, a again after 5m)", n)
	}
}

func TestStaleFlowIsReplaced(t *testing.T) {
	c, clk, b := newTest(t)
	var calls atomic.Int32
	stuck, _, err := c.Request("ns/a", blockingFlow(&calls, nil))
	if err != nil {
		t.Fatal(err)
	}
	waitOpens(t, b, 1)
	clk.Step(3 * time.Minute)
	if f, joined, _ := c.Request("ns/a", blockingFlow(&calls, nil)); f != stuck || !joined {
		t.Fatal("a young flow was not joined")
	}
	clk.Step(4 * time.Minute) // 7m: older than MaxFlowAge, and the browser window has passed
	release := make(chan struct{})
	fresh, joined, err := c.Request("ns/a", blockingFlow(&calls, release))
	if err != nil || joined || fresh == stuck {
		t.Fatalf("stale flow not replaced: joined=%t err=%v", joined, err)
	}
	if err := waitDone(t, stuck); !errors.Is(err, ErrStale) {
		t.Errorf("stale flow ended with %v, want ErrStale", err)
	}
	close(release)
	if err := waitDone(t, fresh); err != nil {
		t.Errorf("fresh flow: %v", err)
	}
	if calls.Load() != 2 || b.count() != 2 {
		t.Errorf("flows = %d, opens = %d, want 2 and 2", calls.Load(), b.count())
	}
}

func TestCancelAndClose(t *testing.T) {
	c, _, _ := newTest(t)
	var calls atomic.Int32
	f, _, err := c.Request("ns/a", blockingFlow(&calls, nil))
	if err != nil {
		t.Fatal(err)
	}
	c.Cancel("ns/a")
	if err := waitDone(t, f); !errors.Is(err, ErrCancelled) {
		t.Errorf("cancelled flow ended with %v", err)
	}
	g, _, err := c.Request("ns/b", blockingFlow(&calls, nil))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := waitDone(t, g); !errors.Is(err, ErrCancelled) {
		t.Errorf("flow after Close ended with %v", err)
	}
	if _, _, err := c.Request("ns/c", blockingFlow(&calls, nil)); err == nil {
		t.Error("Request after Close started a flow")
	}
}

func TestBrowserCommand(t *testing.T) {
	cases := []struct {
		env  string
		want []string
	}{
		{"/bin/browse", []string{"/bin/browse", "U"}},
		{"/bin/helper follow", []string{"/bin/helper", "follow", "U"}},
		{"firefox --new-tab %s:chromium", []string{"firefox", "--new-tab", "U"}},
		{":/bin/second", []string{"/bin/second", "U"}},
	}
	for _, tc := range cases {
		got, err := browserCommand(tc.env, "linux", "U")
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v, %v", tc.env, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: %v, want %v", tc.env, got, tc.want)
			}
		}
	}
}
