package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// The suite's shared state, set up once by TestMain.
var (
	// bins are the binaries under test, built into a temporary directory.
	bins struct{ manager, cli, oauth string }
	// selfBin is this test binary, re-executed as the $BROWSER program.
	selfBin string
	// runDir holds every log, snapshot and token store of the run.
	runDir string
	// controlPlane is the API server and etcd (separate processes started by envtest).
	controlPlane *controlplane.ControlPlane
	// kube reads the truth from the API server (no cache).
	kube   client.Client
	scheme = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(browserModeEnv); mode != "" {
		os.Exit(browserMain(mode))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
		return 1
	}
	// controller-runtime's client logs nothing we need; unset, it complains with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcpv1alpha1.AddToScheme(scheme)
	started := time.Now()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if runDir, err = os.MkdirTemp("", "mcpproxy-e2e-"); err != nil {
		fmt.Println(err)
		return 1
	}
	if selfBin, err = os.Executable(); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := buildAll(root); err != nil {
		fmt.Println("building the binaries under test:", err)
		return 1
	}
	buildTime := time.Since(started)
	controlPlane, err = controlplane.Start(filepath.Join(root, "config", "crd", "bases"), filepath.Join(runDir, "cluster"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if kube, err = client.New(controlPlane.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Println("client:", err)
		_ = controlPlane.Stop()
		return 1
	}
	code := m.Run()
	stopAllProcs()
	_ = controlPlane.Stop()
	printSummary(buildTime, time.Since(started))
	if code != 0 || os.Getenv("E2E_KEEP") != "" {
		fmt.Println("e2e: logs, snapshots and token stores kept in", runDir)
	} else {
		_ = os.RemoveAll(runDir)
	}
	return code
}

// buildAll builds the manager, the CLI and the OAuth test server once, in parallel.
func buildAll(root string) error {
	binDir := filepath.Join(runDir, "bin")
	bins.manager = filepath.Join(binDir, "manager")
	bins.cli = filepath.Join(binDir, "mcpproxy")
	bins.oauth = filepath.Join(binDir, "oauthserver")
	targets := map[string]string{bins.manager: "./cmd/manager", bins.cli: "./cmd/mcpproxy", bins.oauth: "./test/oauthserver/cmd/server"}
	var wg sync.WaitGroup
	errs := make(chan error, len(targets))
	for out, pkg := range targets {
		wg.Go(func() {
			args := []string{"build", "-o", out}
			if os.Getenv("E2E_RACE") != "" {
				args = append(args, "-race")
			}
			cmd := exec.Command("go", append(args, pkg)...)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
