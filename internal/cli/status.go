package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// StatusRow is one server in `mcpproxy auth status`. It holds no secret: everything comes from
// the UpstreamServer's status, which never holds one. The table's columns carry the names of
// `kubectl get upstreamservers` (the printer columns in api/v1alpha1) for the same facts:
// READY, REASON, LOGIN, EXPIRES, LAST REFRESH and FAILURES, and with -o wide TOOLS, ACCOUNT
// and URL; MESSAGE is the CLI's own. JSON and YAML use the API's field names.
type StatusRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	// Ready and Reason are the Ready condition's status and reason.
	Ready  string `json:"ready"`
	Reason string `json:"reason,omitempty"`
	// LoginCommand is set while a person must log in (AuthorizationRequired is True).
	LoginCommand    string     `json:"loginCommand,omitempty"`
	ExpiresAt       *time.Time `json:"expiresAt,omitempty"`
	LastRefreshTime *time.Time `json:"lastRefreshTime,omitempty"`
	FailedAttempts  int32      `json:"failedAttempts"`
	// ObtainedBy is who logged in: whose upstream account workloads act as.
	ObtainedBy string `json:"obtainedBy,omitempty"`
	Tools      *int32 `json:"tools,omitempty"`
	Message    string `json:"message,omitempty"`
}

type statusOptions struct {
	allNamespaces bool
	output        string
}

func newStatusCommand(env *Env, kf *kubeFlags) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:               "status [NAME]",
		Short:             "Show the token and connection state of UpstreamServers",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: kf.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), env, kf, o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List servers of every namespace.")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: json, yaml or wide (default: a table; wide adds ACCOUNT, TOOLS and URL).")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml", "wide"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runStatus(ctx context.Context, env *Env, kf *kubeFlags, o *statusOptions, args []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.output != "" && o.output != "json" && o.output != "yaml" && o.output != "wide" {
		return fmt.Errorf("unknown output format %q: use json, yaml or wide", o.output)
	}
	c, ns, err := kf.connect()
	if err != nil {
		return err
	}
	items, err := listServers(ctx, c, ns, o.allNamespaces, args)
	if err != nil {
		return err
	}
	rows := make([]StatusRow, 0, len(items))
	for i := range items {
		rows = append(rows, statusRow(&items[i]))
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	switch o.output {
	case "json":
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		fmt.Fprintln(env.Out, string(b))
		return nil
	case "yaml":
		b, err := yaml.Marshal(rows)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		fmt.Fprint(env.Out, string(b))
		return nil
	}
	if len(rows) == 0 {
		where := "namespace " + ns
		if o.allNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(env.ErrOut, "No UpstreamServers found in %s.\n", where)
		return nil
	}
	printTable(env, rows, o.allNamespaces, o.output == "wide")
	return nil
}

// listServers reads the one server named in args, or every server of ns (or of all
// namespaces).
func listServers(ctx context.Context, c client.Client, ns string, all bool, args []string) ([]mcpv1alpha1.UpstreamServer, error) {
	if len(args) == 1 {
		us, err := getServer(ctx, c, ns, args[0])
		if err != nil {
			return nil, err
		}
		return []mcpv1alpha1.UpstreamServer{*us}, nil
	}
	var list mcpv1alpha1.UpstreamServerList
	opts := []client.ListOption{}
	if !all {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing UpstreamServers: %w", err)
	}
	return list.Items, nil
}

// statusRow summarises a server, reading each fact where the printer column of the same name
// reads it.
func statusRow(us *mcpv1alpha1.UpstreamServer) StatusRow {
	r := StatusRow{Namespace: us.Namespace, Name: us.Name, URL: us.Spec.URL, Ready: "Unknown"}
	if c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = string(c.Status), c.Reason, c.Message
	}
	if a := us.Status.Authorization; a != nil {
		r.LoginCommand = a.LoginCommand
	}
	// A Ready server can still need a person (a rejected refresh token) or be failing its
	// refreshes: Ready's message does not say so, so the message says that instead.
	if r.Ready == string(metav1.ConditionTrue) {
		if c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired); c != nil && c.Status == metav1.ConditionTrue {
			r.Message = c.Message
		} else if rs := us.Status.Refresh; rs != nil && rs.FailedAttempts > 0 {
			r.Message = "Last refresh failed: " + rs.LastFailureReason
		}
	}
	if t := us.Status.Token; t != nil {
		if t.ExpiresAt != nil {
			v := t.ExpiresAt.UTC()
			r.ExpiresAt = &v
		}
		if t.LastRefreshTime != nil {
			v := t.LastRefreshTime.UTC()
			r.LastRefreshTime = &v
		}
		r.ObtainedBy = t.ObtainedBy
	}
	if rs := us.Status.Refresh; rs != nil {
		r.FailedAttempts = rs.FailedAttempts
	}
	if s := us.Status.Server; s != nil {
		n := s.Tools
		r.Tools = &n
	}
	return r
}

// statusColumns are the table's columns after NAME, in kubectl's order; wide ones only with
// -o wide.
var statusColumns = []struct {
	name string
	wide bool
	cell func(r StatusRow, now time.Time) string
}{
	{"READY", false, func(r StatusRow, _ time.Time) string { return r.Ready }},
	{"REASON", false, func(r StatusRow, _ time.Time) string { return orDash(r.Reason) }},
	{"LOGIN", false, func(r StatusRow, _ time.Time) string { return orDash(r.LoginCommand) }},
	{"EXPIRES", false, func(r StatusRow, now time.Time) string { return expiresCell(r.ExpiresAt, now) }},
	{"TOOLS", true, func(r StatusRow, _ time.Time) string {
		if r.Tools == nil {
			return "-"
		}
		return fmt.Sprint(*r.Tools)
	}},
	{"LAST REFRESH", false, func(r StatusRow, now time.Time) string {
		switch {
		case r.LastRefreshTime != nil:
			return humanDuration(now.Sub(*r.LastRefreshTime)) + " ago"
		case r.ExpiresAt != nil:
			return "never"
		}
		return "-"
	}},
	{"FAILURES", false, func(r StatusRow, _ time.Time) string { return fmt.Sprint(r.FailedAttempts) }},
	{"ACCOUNT", true, func(r StatusRow, _ time.Time) string { return orDash(r.ObtainedBy) }},
	{"URL", true, func(r StatusRow, _ time.Time) string { return r.URL }},
	{"MESSAGE", false, func(r StatusRow, _ time.Time) string { return oneLine(r.Message) }},
}

// expiresCell says when a token expires, relative to now: kubectl shows the time itself.
func expiresCell(at *time.Time, now time.Time) string {
	switch {
	case at == nil:
		return "-"
	case at.After(now):
		return "in " + humanDuration(at.Sub(now))
	}
	return "expired " + humanDuration(now.Sub(*at)) + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printTable(env *Env, rows []StatusRow, withNamespace, wide bool) {
	now := env.Now()
	tw := tabwriter.NewWriter(env.Out, 0, 8, 3, ' ', 0)
	var header []string
	if withNamespace {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME")
	for _, c := range statusColumns {
		if wide || !c.wide {
			header = append(header, c.name)
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		var cells []string
		if withNamespace {
			cells = append(cells, r.Namespace)
		}
		cells = append(cells, r.Name)
		for _, c := range statusColumns {
			if wide || !c.wide {
				cells = append(cells, c.cell(r, now))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
}

// oneLine keeps a table cell on one line and of readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
