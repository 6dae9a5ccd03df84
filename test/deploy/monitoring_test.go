package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var (
	// metricDefined finds the metrics the code registers (prometheus.*Opts{Name: "..."}).
	metricDefined = regexp.MustCompile(`Name:\s*"(mcpproxy_[a-z0-9_]+)"`)
	// metricUsed finds the metrics a PromQL expression reads.
	metricUsed = regexp.MustCompile(`\bmcpproxy_[a-z0-9_]+`)
)

// registeredMetrics lists every metric name the manager can export: those the Go code
// registers, with the series a histogram adds.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != repoRoot && (d.Name() == "bin" || d.Name() == "test" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		src, err := os.ReadFile(path)
		for _, m := range metricDefined.FindAllStringSubmatch(string(src), -1) {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !names["mcpproxy_token_expires_in_seconds"] || !names["mcpproxy_gateway_requests_total"] {
		t.Fatalf("found only %d metric names in the code: the pattern is broken", len(names))
	}
	return names
}

// checkExpr fails when expr reads a metric the manager does not export.
func checkExpr(t *testing.T, where, expr string, metrics map[string]bool) {
	t.Helper()
	used := metricUsed.FindAllString(expr, -1)
	if len(used) == 0 {
		t.Errorf("%s: %q reads no mcpproxy metric", where, expr)
	}
	for _, m := range used {
		if !metrics[m] {
			t.Errorf("%s: %q reads %s, which the manager does not export", where, expr, m)
		}
	}
}

// The PrometheusRule and the Grafana dashboard are off by default (they need
// prometheus-operator and a Grafana sidecar).
func TestMonitoringIsOffByDefault(t *testing.T) {
	objs := render(t, valuesCases[0])
	if n := len(find(objs, "PrometheusRule")) + len(find(objs, "ConfigMap")); n != 0 {
		t.Errorf("rendered %d PrometheusRules/ConfigMaps by default, want none", n)
	}
}

// When enabled, the alerts are the two worth setting, read only metrics the manager exports,
// and take their thresholds from the values; the dashboard is valid JSON whose every query
// reads exported metrics, in a ConfigMap the Grafana sidecar finds. (TestChartAppliesToAPIServer
// dry-runs both with the custom values.)
func TestMonitoringRulesAndDashboard(t *testing.T) {
	metrics := registeredMetrics(t)
	objs := render(t, valuesCases[1])

	rule := one(t, objs, "PrometheusRule")
	if rule.GetLabels()["release"] != "prometheus" {
		t.Errorf("PrometheusRule labels %v lack the configured release: prometheus", rule.GetLabels())
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	alerts := map[string]map[string]any{}
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			r := r.(map[string]any)
			alerts[r["alert"].(string)] = r
			checkExpr(t, "alert "+r["alert"].(string), r["expr"].(string), metrics)
		}
	}
	var names []string
	for name := range alerts {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"MCPProxyAuthorizationRequired", "MCPProxyTokenExpiresBeforeRefresh"}; !slices.Equal(names, want) {
		t.Fatalf("alerts %v, want %v", names, want)
	}
	if a := alerts["MCPProxyAuthorizationRequired"]; a["for"] != "5m" || a["labels"].(map[string]any)["severity"] != "critical" {
		t.Errorf("MCPProxyAuthorizationRequired = %v, want for 5m and severity critical from the values", a)
	}
	if a := alerts["MCPProxyTokenExpiresBeforeRefresh"]; !strings.HasSuffix(a["expr"].(string), "< 60") || a["for"] != "1m" {
		t.Errorf("MCPProxyTokenExpiresBeforeRefresh = %v, want the default threshold (60s) and for (1m)", a)
	}
	for name, a := range alerts {
		summary, _ := a["annotations"].(map[string]any)["summary"].(string)
		if !strings.Contains(summary, "{{ $labels.namespace }}/{{ $labels.name }}") {
			t.Errorf("%s: the summary %q does not name the server", name, summary)
		}
	}

	cm := one(t, objs, "ConfigMap")
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetAnnotations()["grafana_folder"] != "MCP" {
		t.Errorf("dashboard ConfigMap labels %v, annotations %v", cm.GetLabels(), cm.GetAnnotations())
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(data["mcpproxy-operator.json"]), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 8 {
		t.Errorf("the dashboard has uid %q and %d panels", dash.UID, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkExpr(t, "panel "+p.Title, q.Expr, metrics)
		}
	}
	sm := one(t, objs, "ServiceMonitor")
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("the ServiceMonitor does not honor the metrics' namespace and name labels: %v", endpoints)
	}
}

// docs/operations.md names every metric the manager exports, and only those.
func TestOperationsNamesEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range metricUsed.FindAllString(string(doc), -1) {
		named[m] = true
	}
	registered := registeredMetrics(t)
	for m := range named {
		if !registered[m] {
			t.Errorf("docs/operations.md names %s, which the manager does not export", m)
		}
	}
	for m := range registered {
		base := !strings.HasSuffix(m, "_bucket") && !strings.HasSuffix(m, "_sum") && !strings.HasSuffix(m, "_count")
		if base && !named[m] {
			t.Errorf("docs/operations.md does not describe %s", m)
		}
	}
}
