package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// defaultK8sVersion is the Makefile's K8S_VERSION, the version envtest's binaries are built from.
const defaultK8sVersion = "1.37.2"

var (
	mapperOnce sync.Once
	mapper     meta.RESTMapper
	verOnce    sync.Once
)

// kubeVersion is the envtest API server's version, so Helm renders for the server it checks against.
func kubeVersion(t *testing.T) string {
	t.Helper()
	verOnce.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
		if err != nil {
			return
		}
		if v, err := dc.ServerVersion(); err == nil {
			kubeVer = v.GitVersion
		}
		// hack/build-control-plane.sh builds kube-apiserver without version ldflags, so it
		// reports v0.0.0-master: fall back to the version it was built from.
		if !strings.HasPrefix(kubeVer, "v1.") {
			kubeVer = "v" + cmp.Or(os.Getenv("K8S_VERSION"), defaultK8sVersion)
		}
	})
	if kubeVer == "" {
		t.Fatal("could not read the API server version")
	}
	return kubeVer
}

// restMapping finds the resource of an object's kind, rediscovering when a kind is new.
func restMapping(t *testing.T, gvk schema.GroupVersionKind) *meta.RESTMapping {
	t.Helper()
	mapperOnce.Do(func() {
		hc, err := restClientHTTP()
		if err == nil {
			mapper, err = apiutil.NewDynamicRESTMapper(restCfg, hc)
		}
		if err != nil {
			t.Fatalf("REST mapper: %v", err)
		}
	})
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("the API server does not know %s: %v", gvk, err)
	}
	return m
}

// ensureNamespace creates a namespace for real (a dry run of a namespaced object needs it),
// labelled to warn about anything the restricted Pod Security Standard forbids.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// dryRunApply sends every object as a server-side apply with dryRun=All and strict field
// validation: the API server runs defaulting, validation (OpenAPI and CEL) and admission, and
// stores nothing. Namespaced objects without a namespace go to defaultNS. Warnings fail too.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured, defaultNS string) {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("nothing to apply")
	}
	for _, err := range applyErrors(t, objs, defaultNS) {
		t.Error(err)
	}
}

// applyErrors dry-runs each object and returns what the API server rejected or warned about.
func applyErrors(t *testing.T, objs []*unstructured.Unstructured, defaultNS string) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	warnings.take()
	var errs []error
	for _, o := range objs {
		m := restMapping(t, o.GroupVersionKind())
		var target dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			target = dyn.Resource(m.Resource).Namespace(cmp.Or(o.GetNamespace(), defaultNS))
		} else if ns := o.GetNamespace(); ns != "" {
			// The API server ignores it, so a GitOps tool compares it with nothing: a diff forever.
			errs = append(errs, fmt.Errorf("%s %s is cluster-scoped but carries namespace %s", o.GetKind(), o.GetName(), ns))
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		force := true
		_, err = target.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
			DryRun: []string{metav1.DryRunAll}, FieldManager: "deploy-test", Force: &force, FieldValidation: "Strict",
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: the API server rejected it: %w", o.GetKind(), o.GetName(), err))
		}
		if w := warnings.take(); len(w) > 0 {
			errs = append(errs, fmt.Errorf("%s %s: the API server warned: %s", o.GetKind(), o.GetName(), strings.Join(w, "; ")))
		}
	}
	return errs
}

// dryRunPods creates, in dry run, a Pod from each Deployment's template, in a namespace that
// enforces the restricted Pod Security Standard: admission rejects a pod that runs as root,
// may escalate privileges, keeps capabilities or lacks a seccomp profile.
func dryRunPods(t *testing.T, objs []*unstructured.Unstructured, namespace string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(restCfg)
	for _, d := range find(objs, "Deployment") {
		dep := convert[appsv1.Deployment](t, d)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-pod", Namespace: namespace, Labels: dep.Spec.Template.Labels},
			Spec:       dep.Spec.Template.Spec,
		}
		_, err := cs.CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("a pod of Deployment %s is not admitted under the restricted Pod Security Standard: %v", dep.Name, err)
		}
	}
}
