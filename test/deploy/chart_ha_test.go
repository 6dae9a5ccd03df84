package deploy

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// shardLabel puts an UpstreamServer on a shard (the manager's --watch-label-selector).
const shardLabel = "sharding.mcpproxy.dev/key"

// TestChartReplicas renders each way of running one Deployment and checks what it needs: bbolt
// one pod and Recreate; the Secrets store any number, RollingUpdate that starts a new pod
// before stopping an old one, and with several replicas a preferred anti-affinity (unless the
// user gave an affinity), a budget of one pod at a time, and a gateway Service with client
// affinity over every replica. Every case lints, passes the API server's dry run and the
// restricted Pod Security Standard.
func TestChartReplicas(t *testing.T) {
	cases := []struct {
		name, values  string
		replicas      int32
		strategy      appsv1.DeploymentStrategyType
		antiAffinity  bool
		userAffinity  bool
		pdb           string // the budget's rule ("maxUnavailable=1"), "" for none
		claims        int
		affinity      corev1.ServiceAffinity
		tokenStoreArg string
	}{
		{name: "bolt default", replicas: 1, strategy: appsv1.RecreateDeploymentStrategyType,
			claims: 1, tokenStoreArg: "--token-store=/var/lib/mcpproxy/tokens.db"},
		{name: "secrets one replica", values: "tokenStore: {backend: secrets}\n",
			replicas: 1, strategy: appsv1.RollingUpdateDeploymentStrategyType},
		{name: "secrets three replicas", values: "tokenStore: {backend: secrets}\nreplicaCount: 3\n",
			replicas: 3, strategy: appsv1.RollingUpdateDeploymentStrategyType, antiAffinity: true,
			pdb: "maxUnavailable=1", affinity: corev1.ServiceAffinityClientIP},
		{name: "user affinity wins", values: "tokenStore: {backend: secrets}\nreplicaCount: 2\n" +
			"affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, preference: {matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]}}]}}\n",
			replicas: 2, strategy: appsv1.RollingUpdateDeploymentStrategyType, userAffinity: true,
			pdb: "maxUnavailable=1", affinity: corev1.ServiceAffinityClientIP},
		{name: "budget and affinity chosen", values: "tokenStore: {backend: secrets}\nreplicaCount: 3\n" +
			"podDisruptionBudget: {minAvailable: 2}\ngateway: {service: {sessionAffinity: None}}\n",
			replicas: 3, strategy: appsv1.RollingUpdateDeploymentStrategyType, antiAffinity: true,
			pdb: "minAvailable=2", affinity: corev1.ServiceAffinityNone},
		{name: "budget off", values: "tokenStore: {backend: secrets}\nreplicaCount: 2\npodDisruptionBudget: {enabled: false}\n",
			replicas: 2, strategy: appsv1.RollingUpdateDeploymentStrategyType, antiAffinity: true, affinity: corev1.ServiceAffinityClientIP},
		{name: "budget on with one replica", values: "podDisruptionBudget: {enabled: true}\n",
			replicas: 1, strategy: appsv1.RecreateDeploymentStrategyType, pdb: "maxUnavailable=1", claims: 1,
			tokenStoreArg: "--token-store=/var/lib/mcpproxy/tokens.db"},
	}
	helm := tool(t, "HELM", "Helm")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vc := valuesCase{name: "ha", namespace: "mcp-ha", values: tc.values}
			runTool(t, helm, append([]string{"lint", "--strict", chartDir}, vc.inlineArgs(t)...)...)
			objs := render(t, vc)
			dep, c := manager(t, objs)
			if got := ptr.Deref(dep.Spec.Replicas, 0); got != tc.replicas {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			checkStrategy(t, dep, tc.strategy)
			if !slices.Contains(c.Args, "--leader-elect") {
				t.Errorf("args %q lack --leader-elect: every replica would reconcile", c.Args)
			}
			if tc.tokenStoreArg != "" && !slices.Contains(c.Args, tc.tokenStoreArg) {
				t.Errorf("args %q lack %s", c.Args, tc.tokenStoreArg)
			}
			aff := dep.Spec.Template.Spec.Affinity
			switch {
			case tc.userAffinity && (aff == nil || aff.NodeAffinity == nil || aff.PodAntiAffinity != nil):
				t.Errorf("affinity %+v is not the user's alone", aff)
			case tc.antiAffinity:
				checkAntiAffinity(t, dep)
			case !tc.userAffinity && aff != nil:
				t.Errorf("affinity %+v with %d replica(s), want none", aff, tc.replicas)
			}
			pdbs := find(objs, "PodDisruptionBudget")
			switch {
			case tc.pdb == "" && len(pdbs) != 0:
				t.Errorf("rendered %d PodDisruptionBudgets, want none", len(pdbs))
			case tc.pdb != "":
				pdb := convert[policyv1.PodDisruptionBudget](t, one(t, objs, "PodDisruptionBudget"))
				if got := budgetRule(pdb); got != tc.pdb {
					t.Errorf("budget %s, want %s", got, tc.pdb)
				}
				checkSelects(t, "PodDisruptionBudget "+pdb.Name, selectorOf(t, pdb.Spec.Selector), dep)
			}
			if n := len(find(objs, "PersistentVolumeClaim")); n != tc.claims {
				t.Errorf("rendered %d claims, want %d", n, tc.claims)
			}
			gw := convert[corev1.Service](t, named(t, objs, "Service", dep.Name+"-gateway"))
			checkSelects(t, "Service "+gw.Name, labels.SelectorFromSet(gw.Spec.Selector), dep)
			if gw.Spec.SessionAffinity != tc.affinity {
				t.Errorf("gateway Service sessionAffinity %q, want %q", gw.Spec.SessionAffinity, tc.affinity)
			}
			ensureNamespace(t, vc.namespace)
			dryRunApply(t, objs, vc.namespace)
			dryRunPods(t, objs, vc.namespace)
		})
	}
}

// TestChartRefusesWithAClearMessage: what the chart must not run fails helm template and helm
// lint, saying what to change. More than one replica on bbolt is refused by the schema (and,
// should the schema be skipped, by the templates).
func TestChartRefusesWithAClearMessage(t *testing.T) {
	helm := tool(t, "HELM", "Helm")
	cases := []struct {
		name, values string
		skipSchema   bool
		want         string
	}{
		{name: "two replicas on bolt by default", values: "replicaCount: 2\n", want: "at '/tokenStore/backend': value must be 'secrets'"},
		{name: "two replicas on bolt", values: "replicaCount: 2\ntokenStore: {backend: bolt}\nshards: [a]\n", want: "at '/tokenStore/backend': value must be 'secrets'"},
		{name: "without the schema", values: "replicaCount: 2\n", skipSchema: true, want: "replicaCount > 1 needs tokenStore.backend: secrets"},
		{name: "negative replicas", values: "replicaCount: -1\n", want: "at '/replicaCount'"},
		{name: "shard twice", values: "shards: [a, b, a]\n", want: "at '/shards': items at 0 and 2 are equal"},
		{name: "shard not a DNS label", values: "shards: [Shard_1]\n", want: "at '/shards/0'"},
		{name: "shard name too long", values: "shards: [" + strings.Repeat("s", 50) + "]\n", want: "longer than 63 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := valuesFile(t, tc.values)
			for _, verb := range [][]string{{"template", "x"}, {"lint", "--strict"}} {
				if tc.skipSchema && verb[0] == "lint" {
					continue // lint has no --skip-schema-validation
				}
				args := append(verb, chartDir, "-f", file)
				if tc.skipSchema {
					args = append(args, "--skip-schema-validation")
				}
				out, err := tryTool(helm, args...)
				if err == nil {
					t.Errorf("helm %s accepted %q", verb[0], tc.values)
					continue
				}
				if msg := err.Error() + string(out); !strings.Contains(msg, tc.want) {
					t.Errorf("helm %s failed without saying %q: %v", verb[0], tc.want, err)
				}
			}
		})
	}
}

// TestChartShards renders two shards, on each store: three Deployments (the main one keeps its
// selector, which is immutable), each reconciling its own servers under its own lease, with
// its own gateway and metrics Services and budget selecting its pods and no other's, its own
// token store claim on bolt, the Secrets store's namespace shared; the NetworkPolicy and the
// ServiceMonitor cover them all.
func TestChartShards(t *testing.T) {
	cases := []struct {
		name, values string
		claims       bool
	}{
		{name: "bolt", values: "shards: [a, b]\npodDisruptionBudget: {enabled: true}\n", claims: true},
		{name: "secrets", values: "shards: [a, b]\ntokenStore: {backend: secrets}\nreplicaCount: 2\n"},
	}
	const common = "metrics: {serviceMonitor: {enabled: true}}\n"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vc := valuesCase{name: "sh", namespace: "mcp-shards", values: tc.values + common}
			runTool(t, tool(t, "HELM", "Helm"), append([]string{"lint", "--strict", chartDir}, vc.inlineArgs(t)...)...)
			objs := render(t, vc)
			deps := map[string]*appsv1.Deployment{}
			for _, d := range find(objs, "Deployment") {
				deps[d.GetName()] = convert[appsv1.Deployment](t, d)
			}
			const main = "sh-mcpproxy-operator"
			want := map[string]string{ // Deployment -> its --watch-label-selector
				main: "!" + shardLabel, main + "-a": shardLabel + "=a", main + "-b": shardLabel + "=b",
			}
			if len(deps) != len(want) {
				t.Fatalf("rendered Deployments %v, want %v", slices.Sorted(maps.Keys(deps)), slices.Sorted(maps.Keys(want)))
			}
			unsharded, _ := manager(t, render(t, valuesCase{name: "sh", namespace: "mcp-shards", values: strings.ReplaceAll(tc.values, "[a, b]", "[]")}))
			leases, claims := map[string]string{}, map[string]string{}
			for name, sel := range want {
				dep := deps[name]
				if dep == nil {
					t.Fatalf("no Deployment %s", name)
				}
				args := dep.Spec.Template.Spec.Containers[0].Args
				if got := flagValue(args, "--watch-label-selector"); got != sel {
					t.Errorf("%s: --watch-label-selector=%q, want %q", name, got, sel)
				}
				lease := flagValue(args, "--leader-election-id")
				if name == main {
					if lease != "" {
						t.Errorf("%s: --leader-election-id=%s; the main Deployment keeps the default lease, or an upgrade would run two leaders", name, lease)
					}
					if !equalSelectors(dep.Spec.Selector, unsharded.Spec.Selector) {
						t.Errorf("%s: selector %v differs from the unsharded chart's %v: an upgrade would fail (the selector is immutable)", name, dep.Spec.Selector, unsharded.Spec.Selector)
					}
				} else if other, dup := leases[lease]; lease == "" || dup {
					t.Errorf("%s: lease %q (also %s's): each shard needs its own", name, lease, other)
				}
				leases[lease] = name
				if !slices.Contains(args, "--leader-elect") {
					t.Errorf("%s: args %q lack --leader-elect", name, args)
				}
				if tc.claims {
					v := volume(t, dep, "token-store")
					if v.PersistentVolumeClaim == nil {
						t.Fatalf("%s: token-store volume %+v is not a claim", name, v.VolumeSource)
					}
					named(t, objs, "PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName)
					if other, dup := claims[v.PersistentVolumeClaim.ClaimName]; dup {
						t.Errorf("%s shares its token store claim with %s", name, other)
					}
					claims[v.PersistentVolumeClaim.ClaimName] = name
				} else if got := flagValue(args, "--token-store-namespace"); got != vc.namespace {
					t.Errorf("%s: --token-store-namespace=%q, want the release namespace %s", name, got, vc.namespace)
				}
				// Every object of this Deployment selects its pods and no other Deployment's.
				sels := map[string]labels.Selector{"its own selector": selectorOf(t, dep.Spec.Selector)}
				for _, suffix := range []string{"-gateway", "-metrics"} {
					svc := convert[corev1.Service](t, named(t, objs, "Service", name+suffix))
					sels["Service "+svc.Name] = labels.SelectorFromSet(svc.Spec.Selector)
				}
				pdb := convert[policyv1.PodDisruptionBudget](t, named(t, objs, "PodDisruptionBudget", name))
				sels["PodDisruptionBudget "+pdb.Name] = selectorOf(t, pdb.Spec.Selector)
				for what, s := range sels {
					for other, od := range deps {
						if got := s.Matches(labels.Set(od.Spec.Template.Labels)); got != (other == name) {
							t.Errorf("%s of %s matches the pods of %s: %v", what, name, other, got)
						}
					}
				}
			}
			if n := len(find(objs, "Service")); n != 2*len(want) {
				t.Errorf("rendered %d Services, want a gateway and a metrics Service per Deployment", n)
			}
			np := convert[networkingv1.NetworkPolicy](t, one(t, objs, "NetworkPolicy"))
			sm := one(t, objs, "ServiceMonitor")
			smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			for name, dep := range deps {
				checkSelects(t, "NetworkPolicy", selectorOf(t, &np.Spec.PodSelector), dep)
				if svc := named(t, objs, "Service", name+"-metrics"); !labels.SelectorFromSet(smSel).Matches(labels.Set(svc.GetLabels())) {
					t.Errorf("the ServiceMonitor (%v) does not scrape %s", smSel, svc.GetName())
				}
			}
			ensureNamespace(t, vc.namespace)
			dryRunApply(t, objs, vc.namespace)
			dryRunPods(t, objs, vc.namespace)
		})
	}
}

// TestChartUpgradesBetweenModes installs the chart on the envtest API server and upgrades it
// from one bbolt replica to three on Secrets with a shard, and back: each step must be accepted
// (the main Deployment's immutable selector unchanged; Recreate again, which the API server
// refuses while a rollingUpdate is left), and the shard's Deployment goes with the shard.
func TestChartUpgradesBetweenModes(t *testing.T) {
	helm := tool(t, "HELM", "Helm")
	const rel, ns = "modes", "mcp-modes"
	kubeconfig := writeKubeconfig(t)
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())
	t.Setenv("HELM_DATA_HOME", t.TempDir())
	cs := kubernetes.NewForConfigOrDie(restCfg)
	main, shard := rel+"-mcpproxy-operator", rel+"-mcpproxy-operator-a"
	steps := []struct {
		verb, values string
		replicas     int32
		strategy     appsv1.DeploymentStrategyType
		shard        bool
	}{
		{verb: "install", replicas: 1, strategy: appsv1.RecreateDeploymentStrategyType},
		{verb: "upgrade", values: "tokenStore: {backend: secrets}\nreplicaCount: 3\nshards: [a]\n", replicas: 3, strategy: appsv1.RollingUpdateDeploymentStrategyType, shard: true},
		{verb: "upgrade", replicas: 1, strategy: appsv1.RecreateDeploymentStrategyType},
	}
	var selector *metav1.LabelSelector
	for i, st := range steps {
		args := []string{st.verb, rel, chartDir, "--kubeconfig", kubeconfig, "--namespace", ns, "--set", "crds.install=false"}
		if st.values != "" {
			args = append(args, "-f", valuesFile(t, st.values))
		}
		if st.verb == "install" {
			args = append(args, "--create-namespace")
		} else {
			args = append(args, "--reset-values")
		}
		runTool(t, helm, args...)
		dep, err := cs.AppsV1().Deployments(ns).Get(context.Background(), main, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := ptr.Deref(dep.Spec.Replicas, 0); got != st.replicas {
			t.Errorf("step %d: replicas %d, want %d", i, got, st.replicas)
		}
		checkStrategy(t, dep, st.strategy)
		if selector == nil {
			selector = dep.Spec.Selector
		} else if !equalSelectors(dep.Spec.Selector, selector) {
			t.Errorf("step %d: the main Deployment's selector changed to %v", i, dep.Spec.Selector)
		}
		_, err = cs.AppsV1().Deployments(ns).Get(context.Background(), shard, metav1.GetOptions{})
		if st.shard && err != nil || !st.shard && !apierrors.IsNotFound(err) {
			t.Errorf("step %d: Deployment %s: %v (want it only with the shard)", i, shard, err)
		}
	}
	runTool(t, helm, "uninstall", rel, "--kubeconfig", kubeconfig, "--namespace", ns)
}

// checkStrategy checks a Deployment's strategy: Recreate alone, or RollingUpdate that starts one
// new pod before it stops an old one.
func checkStrategy(t *testing.T, dep *appsv1.Deployment, want appsv1.DeploymentStrategyType) {
	t.Helper()
	s := dep.Spec.Strategy
	switch {
	case s.Type != want:
		t.Errorf("%s: strategy %q, want %q", dep.Name, s.Type, want)
	case want == appsv1.RecreateDeploymentStrategyType && s.RollingUpdate != nil:
		t.Errorf("%s: Recreate with rollingUpdate %+v", dep.Name, s.RollingUpdate)
	case want == appsv1.RollingUpdateDeploymentStrategyType &&
		(s.RollingUpdate == nil || intOrString(s.RollingUpdate.MaxUnavailable) != "0" || intOrString(s.RollingUpdate.MaxSurge) != "1"):
		t.Errorf("%s: rollingUpdate %+v, want maxUnavailable 0 and maxSurge 1", dep.Name, s.RollingUpdate)
	}
}

// checkAntiAffinity checks the Deployment prefers (never requires) its replicas on different
// nodes, by its own pods' labels.
func checkAntiAffinity(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	aff := dep.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("%s: affinity %+v, want one preferred pod anti-affinity", dep.Name, aff)
	}
	if len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Errorf("%s: a required anti-affinity leaves replicas unscheduled on a one-node cluster", dep.Name)
	}
	term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != corev1.LabelHostname {
		t.Errorf("%s: anti-affinity topology %q, want %s", dep.Name, term.TopologyKey, corev1.LabelHostname)
	}
	checkSelects(t, "the anti-affinity", selectorOf(t, term.LabelSelector), dep)
}

// checkSelects fails when sel does not match the Deployment's pods.
func checkSelects(t *testing.T, what string, sel labels.Selector, dep *appsv1.Deployment) {
	t.Helper()
	if !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s (%s) does not select the pods of %s (%v)", what, sel, dep.Name, dep.Spec.Template.Labels)
	}
}

func selectorOf(t *testing.T, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if ls == nil {
		t.Fatal("no label selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func equalSelectors(a, b *metav1.LabelSelector) bool {
	return metav1.FormatLabelSelector(a) == metav1.FormatLabelSelector(b)
}

// budgetRule is a budget's rule as "minAvailable=N" or "maxUnavailable=N".
func budgetRule(pdb *policyv1.PodDisruptionBudget) string {
	if pdb.Spec.MinAvailable != nil {
		if pdb.Spec.MaxUnavailable != nil {
			return "both"
		}
		return "minAvailable=" + pdb.Spec.MinAvailable.String()
	}
	return "maxUnavailable=" + intOrString(pdb.Spec.MaxUnavailable)
}

func intOrString(v *intstr.IntOrString) string {
	if v == nil {
		return "<nil>"
	}
	return v.String()
}
