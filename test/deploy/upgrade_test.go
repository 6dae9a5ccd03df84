package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestChartKeepsKeyAndStoreAcrossUpgradeAndUninstall installs the chart for real on the envtest
// API server (nothing runs the pods; Helm only needs the API), upgrades it and uninstalls it:
// the generated encryption key must survive the upgrade unchanged (helm lookup), and both the
// key and the token store claim must survive the uninstall.
func TestChartKeepsKeyAndStoreAcrossUpgradeAndUninstall(t *testing.T) {
	helm := tool(t, "HELM", "Helm")
	const rel, ns = "keep", "mcp-keep"
	kubeconfig := writeKubeconfig(t)
	base := []string{"--kubeconfig", kubeconfig, "--namespace", ns}
	// The CRD already exists (envtest installed it), not owned by a release.
	h := func(args ...string) { runTool(t, helm, append(args, base...)...) }
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())
	t.Setenv("HELM_DATA_HOME", t.TempDir())

	h("install", rel, chartDir, "--create-namespace", "--set", "crds.install=false")
	cs := kubernetes.NewForConfigOrDie(restCfg)
	keyName := rel + "-mcpproxy-operator-token-key"
	first := secretKey(t, cs, ns, keyName)

	h("upgrade", rel, chartDir, "--set", "crds.install=false", "--set", "controller.logLevel=debug")
	if second := secretKey(t, cs, ns, keyName); !bytes.Equal(first, second) {
		t.Error("helm upgrade replaced the generated token encryption key")
	}

	h("uninstall", rel)
	if third := secretKey(t, cs, ns, keyName); !bytes.Equal(first, third) {
		t.Error("the generated key did not survive helm uninstall")
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), rel+"-mcpproxy-operator-tokens", metav1.GetOptions{}); err != nil {
		t.Errorf("the token store claim did not survive helm uninstall: %v", err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(context.Background(), rel+"-mcpproxy-operator", metav1.GetOptions{}); err == nil {
		t.Error("helm uninstall left the Deployment")
	}
}

func secretKey(t *testing.T, cs kubernetes.Interface, ns, name string) []byte {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the key Secret: %v", err)
	}
	if len(s.Data["key"]) == 0 || s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("key Secret %s has no key", name)
	}
	return s.Data["key"]
}

// writeKubeconfig writes a kubeconfig for the envtest API server, for command-line tools.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: restCfg.Host, CertificateAuthorityData: restCfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: restCfg.CertData, ClientKeyData: restCfg.KeyData, Token: restCfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
