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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// StatusRow is one server in `mcpproxy auth status`. It holds no secret: everything comes from
// the UpstreamServer's status, which never holds one.
type StatusRow struct {
	Namespace       string     `json:"namespace"`
	Name            string     `json:"name"`
	URL             string     `json:"url"`
	Ready           string     `json:"ready"`
	Auth            string     `json:"auth"`
	ExpiresAt       *time.Time `json:"expiresAt,omitempty"`
	LastRefreshTime *time.Time `json:"lastRefreshTime,omitempty"`
	FailedAttempts  int32      `json:"failedAttempts"`
	Message         string     `json:"message,omitempty"`
	LoginCommand    string     `json:"loginCommand,omitempty"`
	Tools           int32      `json:"tools"`
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
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: json or yaml (default: a table).")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runStatus(ctx context.Context, env *Env, kf *kubeFlags, o *statusOptions, args []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return fmt.Errorf("unknown output format %q: use json or yaml", o.output)
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
	printTable(env, rows, o.allNamespaces)
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

// statusRow summarises a server.
func statusRow(us *mcpv1alpha1.UpstreamServer) StatusRow {
	r := StatusRow{Namespace: us.Namespace, Name: us.Name, URL: us.Spec.URL, Ready: "Unknown", Auth: "-"}
	if c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady); c != nil {
		r.Ready, r.Message = string(c.Status), c.Message
	}
	if reason := upstream.ConditionReason(us, mcpv1alpha1.ConditionAuthenticated); reason != "" {
		r.Auth = reason
	}
	if upstream.IsTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) {
		r.Auth = "LoginRequired"
		if a := us.Status.Authorization; a != nil {
			r.LoginCommand = a.LoginCommand
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
	}
	if rs := us.Status.Refresh; rs != nil {
		r.FailedAttempts = rs.FailedAttempts
	}
	if s := us.Status.Server; s != nil {
		r.Tools = s.Tools
	}
	return r
}

func printTable(env *Env, rows []StatusRow, withNamespace bool) {
	now := env.Now()
	tw := tabwriter.NewWriter(env.Out, 0, 8, 3, ' ', 0)
	header := "NAME\tREADY\tAUTH\tEXPIRES IN\tLAST REFRESH\tFAILURES\tMESSAGE"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		expires, refreshed := "-", "never"
		if r.ExpiresAt != nil {
			if d := r.ExpiresAt.Sub(now); d > 0 {
				expires = humanDuration(d)
			} else {
				expires = "expired"
			}
		}
		if r.LastRefreshTime != nil {
			refreshed = humanDuration(now.Sub(*r.LastRefreshTime)) + " ago"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%s", r.Name, r.Ready, r.Auth, expires, refreshed, r.FailedAttempts, oneLine(r.Message))
		if withNamespace {
			line = r.Namespace + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// oneLine keeps a table cell on one line and of readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}
