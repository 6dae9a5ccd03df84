package deploy

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestHelmLint(t *testing.T) {
	helm := tool(t, "HELM", "Helm")
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			runTool(t, helm, append([]string{"lint", "--strict", chartDir}, vc.helmArgs()...)...)
		})
	}
}

// manager returns the rendered Deployment and its manager container.
func manager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := convert[appsv1.Deployment](t, one(t, objs, "Deployment"))
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	return dep, dep.Spec.Template.Spec.Containers[0]
}

// volume returns the pod volume called name.
func volume(t *testing.T, dep *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q in the Deployment", name)
	return corev1.Volume{}
}

// TestChartSingleWriter checks what the bbolt token store needs in every configuration: one
// replica, Recreate, leader election, the store on the volume, the key file passed, and no
// --browser-login.
func TestChartSingleWriter(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			dep, c := manager(t, render(t, vc))
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
				t.Errorf("replicas = %v, want 1", dep.Spec.Replicas)
			}
			if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy = %q, want Recreate", dep.Spec.Strategy.Type)
			}
			for _, want := range []string{"--leader-elect", "--token-store=/var/lib/mcpproxy/tokens.db"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %q lack %s", c.Args, want)
				}
			}
			if !slices.ContainsFunc(c.Args, func(a string) bool {
				return strings.HasPrefix(a, "--token-encryption-key-file=/etc/mcpproxy/token-key/")
			}) {
				t.Errorf("args %q do not pass --token-encryption-key-file", c.Args)
			}
			for _, a := range c.Args {
				if strings.Contains(a, "browser-login") || strings.Contains(a, "loopback-unauthenticated") {
					t.Errorf("args offer %s, a local-run flag", a)
				}
			}
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == "token-store" && m.MountPath == "/var/lib/mcpproxy"
			}) {
				t.Errorf("the token store volume is not mounted at /var/lib/mcpproxy: %+v", c.VolumeMounts)
			}
		})
	}
}

// TestChartSecurityContext checks the hardening every configuration keeps.
func TestChartSecurityContext(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			dep, c := manager(t, render(t, vc))
			psc, sc := dep.Spec.Template.Spec.SecurityContext, c.SecurityContext
			switch {
			case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
				t.Error("pod securityContext.runAsNonRoot is not true")
			case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
				t.Error("pod seccompProfile is not RuntimeDefault")
			case psc.RunAsUser == nil || *psc.RunAsUser != 65532:
				t.Error("pod does not run as 65532, the distroless nonroot user")
			}
			switch {
			case sc == nil:
				t.Fatal("no container securityContext")
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Error("root filesystem is writable")
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Error("privilege escalation is allowed")
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
				t.Error("capabilities are not all dropped")
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("memory requests and limits are not set: %+v", c.Resources)
			}
		})
	}
}

func TestChartDefaults(t *testing.T) {
	objs := render(t, valuesCases[0])
	dep, c := manager(t, objs)

	// The token store is on the chart's claim, which survives uninstall.
	pvc := convert[corev1.PersistentVolumeClaim](t, one(t, objs, "PersistentVolumeClaim"))
	if v := volume(t, dep, "token-store"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("token-store volume %+v does not use the claim %s", v.VolumeSource, pvc.Name)
	}
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the token store claim is not kept on uninstall")
	}
	if got := pvc.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("claim size = %s, want 1Gi", got)
	}

	// The generated key is a valid key file (one base64 AES-256 key) and is kept on uninstall.
	sec := convert[corev1.Secret](t, one(t, objs, "Secret"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sec.Data["key"])))
	if err != nil || len(key) != 32 {
		t.Errorf("generated key file is not one base64 32-byte key (err %v, %d bytes)", err, len(key))
	}
	if sec.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the generated key Secret is not kept on uninstall")
	}
	if v := volume(t, dep, "token-key"); v.Secret == nil || v.Secret.SecretName != sec.Name {
		t.Errorf("token-key volume %+v does not mount Secret %s", v.VolumeSource, sec.Name)
	}
	if !slices.Contains(c.Args, "--token-encryption-key-file=/etc/mcpproxy/token-key/key") {
		t.Errorf("args %q do not name the mounted key", c.Args)
	}

	// Metrics and gateway Services; no PDB or ServiceMonitor unless asked for.
	ports := map[string]int32{}
	for _, s := range find(objs, "Service") {
		svc := convert[corev1.Service](t, s)
		ports[svc.Spec.Ports[0].Name] = svc.Spec.Ports[0].Port
	}
	if ports["http-metrics"] != 8080 || ports["http-gateway"] != 8090 {
		t.Errorf("service ports = %v, want http-metrics 8080 and http-gateway 8090", ports)
	}
	if !slices.Contains(c.Args, "--gateway-bind-address=:8090") {
		t.Errorf("args %q do not serve the gateway on :8090", c.Args)
	}
	if n := len(find(objs, "PodDisruptionBudget")) + len(find(objs, "ServiceMonitor")); n != 0 {
		t.Errorf("rendered %d PodDisruptionBudgets/ServiceMonitors by default, want none", n)
	}
	if n := len(find(objs, "CustomResourceDefinition")); n != crdCount {
		t.Errorf("%d CRDs rendered by default, want %d (UpstreamServer, UpstreamCredential)", n, crdCount)
	}
}

func TestChartCustomValues(t *testing.T) {
	objs := render(t, valuesCases[1])
	dep, c := manager(t, objs)
	if n := len(find(objs, "Secret")) + len(find(objs, "PersistentVolumeClaim")); n != 0 {
		t.Errorf("rendered %d Secrets/claims although existing ones are named", n)
	}
	if v := volume(t, dep, "token-store"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "shared-tokens" {
		t.Errorf("token-store volume %+v does not use existingClaim shared-tokens", v.VolumeSource)
	}
	if v := volume(t, dep, "token-key"); v.Secret == nil || v.Secret.SecretName != "my-token-key" || v.Secret.Items[0].Key != "keys.txt" {
		t.Errorf("token-key volume %+v does not mount my-token-key/keys.txt", v.VolumeSource)
	}
	for _, want := range []string{"--token-encryption-key-file=/etc/mcpproxy/token-key/keys.txt", "--metrics-bind-address=:9443", "--gateway-bind-address=:9090", "--token-store-open-timeout=10s", "--zap-log-level=debug"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if !strings.Contains(c.Image, "@sha256:") {
		t.Errorf("image %s is not pinned by digest", c.Image)
	}
	pdb := convert[policyv1.PodDisruptionBudget](t, one(t, objs, "PodDisruptionBudget"))
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB spec %+v, want maxUnavailable 1 alone", pdb.Spec)
	}
	sm := one(t, objs, "ServiceMonitor")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if sel["app.kubernetes.io/component"] != "metrics" {
		t.Errorf("ServiceMonitor selects %v, want the metrics Service only", sel)
	}
	if find(objs, "CustomResourceDefinition")[0].GetAnnotations()["helm.sh/resource-policy"] == "keep" {
		t.Error("crds.keep=false still keeps the CRD")
	}
}

func TestChartMinimalValues(t *testing.T) {
	objs := render(t, valuesCases[2])
	dep, _ := manager(t, objs)
	for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "Role", "ServiceAccount", "PersistentVolumeClaim", "Service"} {
		if n := len(find(objs, kind)); n != 0 {
			t.Errorf("rendered %d %s objects with everything off", n, kind)
		}
	}
	if v := volume(t, dep, "token-store"); v.EmptyDir == nil {
		t.Errorf("token-store volume %+v is not an emptyDir without persistence", v.VolumeSource)
	}
	if _, c := manager(t, objs); !slices.Contains(c.Args, "--gateway-bind-address=0") || !slices.Contains(c.Args, "--metrics-bind-address=0") {
		t.Errorf("args %q do not turn the gateway and metrics off", c.Args)
	}
}

// TestChartSchemaRejects checks that values.schema.json refuses what the chart must not do.
func TestChartSchemaRejects(t *testing.T) {
	helm := tool(t, "HELM", "Helm")
	cases := map[string]string{
		"browser login":   "controller:\n  extraArgs: [\"--browser-login\"]\n",
		"open gateway":    "controller:\n  extraArgs: [\"--gateway-allow-loopback-unauthenticated=true\"]\n",
		"bolt replicas":   "replicaCount: 2\n",
		"unknown key":     "persistence:\n  sizee: 1Gi\n",
		"bad size":        "persistence:\n  size: lots\n",
		"bad pull policy": "image:\n  pullPolicy: Sometimes\n",
		"unknown store":   "tokenStore:\n  backend: etcd\n",
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := tryTool(helm, "template", "x", chartDir, "-f", valuesFile(t, values)); err == nil {
				t.Errorf("helm template accepted %q", values)
			} else if !strings.Contains(err.Error(), "schema") {
				t.Errorf("helm template failed, but not on the schema: %v", err)
			}
		})
	}
}
