// Package controlplane starts a local control plane from envtest (etcd and kube-apiserver from
// KUBEBUILDER_ASSETS) with the project's CRDs, and writes a kubeconfig for it. Every test suite
// (through internal/testenv), test/e2e, test/bench, `make dev` and hack/devcluster start it
// here. It does not import testing, so the dev binaries can use it.
package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is a running local kube-apiserver with etcd.
type ControlPlane struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// KubeconfigPath is the absolute path of the written kubeconfig.
	KubeconfigPath string
	env            *envtest.Environment
}

// ErrNoAssets says KUBEBUILDER_ASSETS is not set: etcd and kube-apiserver are not built.
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is not set: run through make (`make test`, `make dev`; it builds etcd and kube-apiserver once)")

// Start starts etcd and kube-apiserver (from KUBEBUILDER_ASSETS), installs the CRDs in crdDir
// and writes dir/kubeconfig.
func Start(crdDir, dir string) (*ControlPlane, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, ErrNoAssets
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	if err := WriteKubeconfig(cfg, path); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &ControlPlane{Config: cfg, KubeconfigPath: path, env: env}, nil
}

// Stop stops the API server and etcd and removes their temporary data.
func (c *ControlPlane) Stop() error { return c.env.Stop() }

// ContextName is the kubeconfig context (and cluster) WriteKubeconfig writes.
const ContextName = "dev"

// WriteKubeconfig writes a kubeconfig (mode 0600) that reaches cfg's API server as cfg's user,
// with "default" as the current namespace.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[ContextName] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["dev-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: "dev-admin", Namespace: "default"}
	kc.CurrentContext = ContextName
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// RepoRoot finds the repository root by walking up from the working directory (a test's
// package directory, or the repository for `go run`) to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
