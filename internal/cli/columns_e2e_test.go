package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// tableAccept asks the API server for the Table that kubectl get prints, built from the CRD's
// printer columns.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// serverTable reads ns's UpstreamServers as kubectl get -o wide sees them: column name to
// cell, per server name. A missing value is nil, which kubectl prints as a blank cell.
func serverTable(t *testing.T, ns string) (columns []metav1.TableColumnDefinition, rows map[string]map[string]any) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/upstreamservers?includeObject=None",
		strings.TrimSuffix(cfg.Host, "/"), mcpv1alpha1.GroupVersion.String(), ns)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", tableAccept)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as a Table: %s\n%s", url, resp.Status, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("decoding the Table: %v\n%s", err, body)
	}
	rows = map[string]map[string]any{}
	for _, row := range table.Rows {
		cells := map[string]any{}
		for i, c := range table.ColumnDefinitions {
			cells[c.Name] = row.Cells[i]
		}
		rows[fmt.Sprint(cells["Name"])] = cells
	}
	return table.ColumnDefinitions, rows
}

// cliTable parses `auth status -o wide`: tabwriter starts every cell where its header starts.
func cliTable(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	type col struct {
		name  string
		start int
	}
	var cols []col
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		end := strings.Index(header[i:], "   ") // cells are at least three spaces apart
		if end < 0 {
			end = len(header) - i
		}
		cols = append(cols, col{strings.TrimSpace(header[i : i+end]), i})
		i += end
	}
	rows := map[string]map[string]string{}
	for _, line := range lines[1:] {
		cells := map[string]string{}
		for j, c := range cols {
			end := len(line)
			if j+1 < len(cols) && cols[j+1].start < end {
				end = cols[j+1].start
			}
			if c.start < len(line) {
				cells[c.name] = strings.TrimSpace(line[c.start:end])
			}
		}
		rows[cells["NAME"]] = cells
	}
	return rows
}

// TestPrinterColumnsTellTheAuthStatusStory reads a server waiting for a login and a Ready one
// through the API server's Table (what kubectl get prints) and through `mcpproxy auth status`:
// the cells say the same thing under the same names, and nothing reads "AUTH True" for the
// server nobody has logged in to.
func TestPrinterColumnsTellTheAuthStatusStory(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createServer(t, ns, "ready", srv.MCPURL())
	createServer(t, ns, "waiting", srv.MCPURL())
	useBrowser(t, "follow")
	if out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "ready", "--timeout", "60s"}, kubeArgs(ns)...)...); code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	us := getUS(t, ns, "ready")

	columns, rows := serverTable(t, ns)
	var names []string
	for _, c := range columns {
		names = append(names, c.Name)
		if c.Name == "Auth" {
			t.Errorf("the Table still has an Auth column: %+v", c)
		}
	}
	wantNames := []string{"Name", "Ready", "Reason", "Login", "Expires", "Tools", "Age", "Account", "Last Refresh", "Failures", "URL"}
	if strings.Join(names, ",") != strings.Join(wantNames, ",") {
		t.Errorf("columns %v, want %v", names, wantNames)
	}
	for _, c := range columns {
		wide := c.Name == "Account" || c.Name == "Last Refresh" || c.Name == "Failures" || c.Name == "URL"
		if wide != (c.Priority == 1) {
			t.Errorf("column %s has priority %d", c.Name, c.Priority)
		}
	}

	waiting, ready := rows["waiting"], rows["ready"]
	if waiting == nil || ready == nil {
		t.Fatalf("the Table lacks a server: %v", rows)
	}
	want := map[string]map[string]any{
		"waiting": {"Ready": "False", "Reason": mcpv1alpha1.ReasonNoToken, "Login": "mcpproxy auth login waiting -n " + ns,
			"Expires": nil, "Tools": nil, "Account": nil, "Last Refresh": nil, "Failures": nil, "URL": srv.MCPURL()},
		"ready": {"Ready": "True", "Reason": mcpv1alpha1.ReasonReady, "Login": nil,
			"Expires": us.Status.Token.ExpiresAt.UTC().Format(time.RFC3339), "Tools": float64(3),
			"Account": us.Status.Token.ObtainedBy, "Last Refresh": nil, "Failures": nil, "URL": srv.MCPURL()},
	}
	for name, cells := range want {
		for col, w := range cells {
			if got := rows[name][col]; got != w {
				t.Errorf("%s: column %s is %#v, want %#v", name, col, got, w)
			}
		}
	}
	if us.Status.Token.ObtainedBy == "" {
		t.Errorf("the logged-in server names no account: %+v", us.Status.Token)
	}

	// auth status -o wide: every column kubectl shows, but NAME and AGE, under the same name
	// (upper-cased, as kubectl prints it) with the same value ("-" or 0 where kubectl is blank).
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "status", "-o", "wide"}, kubeArgs(ns)...)...)
	if code != 0 {
		t.Fatalf("auth status -o wide: exit %d\n%s\n%s", code, out, errOut)
	}
	cli := cliTable(t, out)
	for name, tableRow := range rows {
		cliRow := cli[name]
		if cliRow == nil {
			t.Fatalf("auth status does not list %s:\n%s", name, out)
		}
		for _, c := range columns {
			header := strings.ToUpper(c.Name)
			if header == "NAME" || header == "AGE" {
				continue
			}
			got, ok := cliRow[header]
			if !ok {
				t.Errorf("auth status -o wide has no %s column:\n%s", header, out)
				continue
			}
			switch cell := tableRow[c.Name]; {
			case header == "EXPIRES": // a time in kubectl, "in 28s" in the CLI
				if (cell == nil) != (got == "-") || (cell != nil && !strings.HasPrefix(got, "in ")) {
					t.Errorf("%s: EXPIRES is %q in auth status and %v in kubectl", name, got, cell)
				}
			case header == "LAST REFRESH":
				if cell == nil && got != "never" && got != "-" {
					t.Errorf("%s: LAST REFRESH is %q in auth status and blank in kubectl", name, got)
				}
			case header == "FAILURES" && cell == nil:
				if got != "0" {
					t.Errorf("%s: FAILURES is %q in auth status and blank in kubectl", name, got)
				}
			case cell == nil:
				if got != "-" {
					t.Errorf("%s: %s is %q in auth status and blank in kubectl", name, header, got)
				}
			default:
				if got != fmt.Sprint(cell) {
					t.Errorf("%s: %s is %q in auth status and %q in kubectl", name, header, got, fmt.Sprint(cell))
				}
			}
		}
	}
	if strings.Contains(out, "LoginRequired") || strings.Contains(out, "AUTH") {
		t.Errorf("auth status still uses a word kubectl does not:\n%s", out)
	}
}
