package deploy

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// flagValue returns the value of --name=value in args ("" when absent).
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// mountOf returns the container's mount holding file (the deepest mount path above it).
func mountOf(t *testing.T, c corev1.Container, file string) corev1.VolumeMount {
	t.Helper()
	var found corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && len(m.MountPath) > len(found.MountPath) {
			found = m
		}
	}
	if found.Name == "" {
		t.Fatalf("no volume is mounted above %s: %+v", file, c.VolumeMounts)
	}
	return found
}

// makeVar reads a `NAME := value` variable of the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("the Makefile sets no %s", name)
	}
	return string(m[1])
}

// TestKustomizeKeepsKeyApartFromStore: config/default runs the manager with the token store's
// encryption key read from a Secret, mounted read-only on a volume of its own, not generated
// next to tokens.db on the claim (a copy of the volume would hold both); the Secret is the one
// `make deploy` creates; flag, path and Secret key are the chart's.
func TestKustomizeKeepsKeyApartFromStore(t *testing.T) {
	dep, c := manager(t, kustomizeDefault(t))
	keyFile, store := flagValue(c.Args, "--token-encryption-key-file"), flagValue(c.Args, "--token-store")
	if keyFile == "" || store == "" {
		t.Fatalf("args %q do not pass both --token-store and --token-encryption-key-file", c.Args)
	}
	keyMount, storeMount := mountOf(t, c, keyFile), mountOf(t, c, store)
	if keyMount.Name == storeMount.Name {
		t.Fatalf("the key file %s is on the token store's volume %s", keyFile, storeMount.Name)
	}
	if !keyMount.ReadOnly {
		t.Errorf("the key volume is mounted writable: %+v", keyMount)
	}
	if v := volume(t, dep, storeMount.Name); v.PersistentVolumeClaim == nil {
		t.Errorf("the token store volume %s is not a claim: %+v", v.Name, v.VolumeSource)
	}
	kv := volume(t, dep, keyMount.Name).Secret
	if kv == nil {
		t.Fatalf("the key volume %s is not a Secret", keyMount.Name)
	}
	if want := makeVar(t, "DEPLOY_KEY_SECRET"); kv.SecretName != want {
		t.Errorf("the key volume mounts Secret %s, but make deploy creates %s", kv.SecretName, want)
	}
	if want := makeVar(t, "DEPLOY_NAMESPACE"); dep.Namespace != want {
		t.Errorf("config/default deploys to %s, but make deploy creates the key Secret in %s", dep.Namespace, want)
	}
	if kv.DefaultMode == nil || *kv.DefaultMode&0o077 != 0 {
		t.Errorf("the key file mode %v is readable by group or others before fsGroup", kv.DefaultMode)
	}
	if psc := dep.Spec.Template.Spec.SecurityContext; psc == nil || psc.FSGroup == nil || *psc.FSGroup != 65532 {
		t.Error("no fsGroup 65532: the nonroot manager could not read its mode 0400 key file")
	}
	if len(kv.Items) != 1 || kv.Items[0].Key != "key" || filepath.Join(keyMount.MountPath, kv.Items[0].Path) != keyFile {
		t.Errorf("the key volume's items %+v do not put Secret key \"key\" at %s", kv.Items, keyFile)
	}

	// The chart (default values) passes the same flag and mounts its Secret at the same place.
	_, cc := manager(t, render(t, valuesCases[0]))
	if got := flagValue(cc.Args, "--token-encryption-key-file"); got != keyFile {
		t.Errorf("the chart passes --token-encryption-key-file=%s, config/manager %s", got, keyFile)
	}
	if got := mountOf(t, cc, keyFile); got.MountPath != keyMount.MountPath || !got.ReadOnly {
		t.Errorf("the chart mounts its key at %+v, config/manager at %+v", got, keyMount)
	}

	// make deploy creates the key before it applies anything that mounts it.
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	deploy := regexp.MustCompile(`(?ms)^deploy:.*?\n\n`).Find(mk)
	script, apply := strings.Index(string(deploy), "hack/deploy-key.sh"), strings.Index(string(deploy), "apply")
	if script < 0 || apply < 0 || script > apply {
		t.Errorf("make deploy does not run hack/deploy-key.sh before it applies:\n%s", deploy)
	}
}

// TestDeployKeyScript runs hack/deploy-key.sh with kubectl against the envtest API server: it
// creates the namespace and a Secret holding one base64 AES-256 key (the chart's format, key
// "key"), says nothing of the key, and never replaces a key that exists, its own or anyone's.
func TestDeployKeyScript(t *testing.T) {
	kubectl := os.Getenv("KUBECTL")
	if kubectl == "" {
		var err error
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			t.Skip("no kubectl on the PATH (set KUBECTL): hack/deploy-key.sh is not exercised")
		}
	}
	kubeconfig := writeKubeconfig(t)
	run := func(ns, name string) string {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "deploy-key.sh"), ns, name)
		cmd.Env = append(os.Environ(), "KUBECTL="+kubectl+" --kubeconfig "+kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hack/deploy-key.sh %s %s: %v\n%s", ns, name, err, out)
		}
		return string(out)
	}
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	get := func(ns, name string) *corev1.Secret {
		t.Helper()
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading Secret %s/%s: %v", ns, name, err)
		}
		return s
	}

	const ns, name = "mcp-deploy-key", "mcpproxy-token-key" // the namespace does not exist yet
	out := run(ns, name)
	sec := get(ns, name)
	keyText := strings.TrimSpace(string(sec.Data["key"]))
	key, err := base64.StdEncoding.DecodeString(keyText)
	if err != nil || len(key) != 32 || sec.Type != corev1.SecretTypeOpaque || len(sec.Data) != 1 {
		t.Fatalf("Secret %s/%s is not one base64 32-byte key under \"key\" (type %s, %d entries, %d bytes, %v)",
			ns, name, sec.Type, len(sec.Data), len(key), err)
	}
	for _, leak := range []string{keyText, base64.StdEncoding.EncodeToString(sec.Data["key"])} {
		if strings.Contains(out, leak) {
			t.Errorf("hack/deploy-key.sh printed the key:\n%s", out)
		}
	}
	if out := run(ns, name); !strings.Contains(out, "keeping") {
		t.Errorf("a second run did not say it kept the key:\n%s", out)
	}
	if again := get(ns, name); again.ResourceVersion != sec.ResourceVersion || !slices.Equal(again.Data["key"], sec.Data["key"]) {
		t.Error("a second run replaced the key Secret")
	}

	// A key someone else put there (a restore, a rotation) is left exactly as it is.
	ensureNamespace(t, "mcp-deploy-key-own")
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "mcp-deploy-key-own"},
		Data: map[string][]byte{"key": []byte("restored\n")}}
	if _, err := cs.CoreV1().Secrets(mine.Namespace).Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run(mine.Namespace, name)
	if got := get(mine.Namespace, name); string(got.Data["key"]) != "restored\n" {
		t.Error("hack/deploy-key.sh replaced an existing key Secret")
	}
}
