package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The end-to-end tests run the real reconciler in a real manager (wired by internal/app, as
// the binary is) against a real kube-apiserver (envtest) and test/oauthserver, and drive the
// CLI through its cobra commands with a kubeconfig, as a person would. $BROWSER is this test
// binary re-executed as a headless browser (see browserHelper). Without KUBEBUILDER_ASSETS
// (set by `make test`) the binary fails, like every envtest suite.
var (
	apiClient      client.Client
	kubeconfigPath string
)

const helperArg = "browser-helper"

func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == helperArg {
		os.Exit(browserHelper(os.Args[2], os.Args[3]))
	}
	testenv.Main(m, testenv.MainOptions{Setup: func(env *testenv.Env) (func(), error) {
		apiClient, kubeconfigPath = env.Client, env.KubeconfigPath
		mgr, err := testenv.RunManager(env, testenv.ManagerOptions{NoSync: true})
		if err != nil {
			return nil, err
		}
		return func() { _ = mgr.Stop() }, nil
	}})
}

// useBrowser points $BROWSER at this test binary as a headless browser in the given mode.
func useBrowser(t *testing.T, mode string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", exe+" "+helperArg+" "+mode)
}

// browserHelper plays a browser for authURL against an auto-approving authorization server:
// "follow" delivers the redirect to the loopback callback, "wrongstate" delivers it with another
// state, "deny" delivers access_denied, "ignore" does nothing (the login times out).
func browserHelper(mode, authURL string) int {
	if mode == "ignore" {
		return 0
	}
	hc := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Get(authURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper:", err)
		return 1
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper: no redirect:", resp.Status)
		return 1
	}
	q := loc.Query()
	switch mode {
	case "wrongstate":
		q.Set("state", "not-the-state-that-was-sent")
	case "deny":
		q.Del("code")
		q.Set("error", "access_denied")
		q.Set("error_description", "The user denied the request")
	}
	loc.RawQuery = q.Encode()
	resp, err = hc.Get((&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawQuery: loc.RawQuery}).String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper: callback:", err)
		return 1
	}
	_ = resp.Body.Close()
	return 0
}
