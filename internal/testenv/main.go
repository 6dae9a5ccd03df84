package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// Env is the control plane of one test binary.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client reads and writes the API server directly (no cache): tests assert on the truth.
	Client client.Client
	// Scheme is the manager's scheme (app.NewScheme).
	Scheme *runtime.Scheme
	// KubeconfigPath is a kubeconfig for Config, for the CLI and child processes.
	KubeconfigPath string
	// Root is the repository root (the directory holding go.mod).
	Root string
	// Dir is a temporary directory removed when the binary ends.
	Dir string

	plane *controlplane.ControlPlane
}

var current *Env

// Current is the Env Main started; nil before Main or in a binary that did not call it.
func Current() *Env { return current }

// MainOptions configure Main.
type MainOptions struct {
	// Setup runs once the control plane is up, before the tests: a suite that shares one
	// manager starts it here (RunManager). The returned stop runs after the tests.
	Setup func(env *Env) (stop func(), err error)
}

// Main is a package's TestMain: it starts envtest with the project's CRDs, runs Setup and the
// tests, stops everything and exits with the tests' code.
//
// Without KUBEBUILDER_ASSETS it fails the binary (exit 1) instead of skipping: `make test`
// always sets it, so a missing control plane is a broken run, and a green run that skipped
// the integration tests would hide it. Run `make envtest` to build the binaries once.
func Main(m *testing.M, o MainOptions) {
	os.Exit(run(m, o))
}

func run(m *testing.M, o MainOptions) int {
	// controller-runtime's global logger (clients, leftovers of a manager): errors to stderr.
	ctrl.SetLogger(newLogBook(0, stderrLine, true).logger())
	env, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	current = env
	defer env.stop()
	if o.Setup != nil {
		stop, err := o.Setup(env)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv: setup:", err)
			return 1
		}
		defer stop()
	}
	return m.Run()
}

func stderrLine(s string) { fmt.Fprintln(os.Stderr, s) }

// start brings up the control plane and a client for it.
func start() (*Env, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mcpproxy-testenv-")
	if err != nil {
		return nil, err
	}
	plane, err := controlplane.Start(filepath.Join(root, "config", "crd", "bases"), filepath.Join(dir, "cluster"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	env := &Env{Config: plane.Config, KubeconfigPath: plane.KubeconfigPath, Root: root, Dir: dir, plane: plane}
	if env.Scheme, err = app.NewScheme(); err == nil {
		env.Client, err = client.New(plane.Config, client.Options{Scheme: env.Scheme})
	}
	if err != nil {
		env.stop()
		return nil, err
	}
	return env, nil
}

func (e *Env) stop() {
	_ = e.plane.Stop()
	_ = os.RemoveAll(e.Dir)
}
