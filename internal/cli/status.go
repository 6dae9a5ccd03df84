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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// StatusRow is one server, or one credential of a PerSubject server, in `mcpproxy auth
// status`. It holds no secret: everything comes from the objects' status, which never holds
// one. The table's columns carry the names of `kubectl get upstreamservers` (the printer
// columns in api/v1alpha1) for the same facts: READY, REASON, LOGIN, EXPIRES, LAST REFRESH and
// FAILURES, and with -o wide TOOLS, ACCOUNT and URL; MESSAGE is the CLI's own. A credential's
// row, under its server's, reads the same facts from the credential's status (which mirrors a
// server's token part); when credentials are listed the table adds SUBJECTS and always shows
// ACCOUNT, whose account each credential acts as. JSON and YAML use the API's field names.
type StatusRow struct {
	// Kind is UpstreamServer or UpstreamCredential.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Server is the UpstreamServer a credential is for (spec.serverRef.name).
	Server string `json:"server,omitempty"`
	// CredentialMode is a server's spec.credentialMode.
	CredentialMode string `json:"credentialMode,omitempty"`
	// Subjects are who may use a credential, as `auth login --for` names them.
	Subjects []string `json:"subjects,omitempty"`
	// URL is the server's (a credential's server's, when it exists).
	URL string `json:"url,omitempty"`
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

	// underServer says a credential's row follows its server's (the table indents it).
	underServer bool
}

type statusOptions struct {
	allNamespaces bool
	output        string
}

func newStatusCommand(env *Env, kf *kubeFlags) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [NAME | credential/NAME]",
		Short: "Show the token and connection state of UpstreamServers and their UpstreamCredentials",
		Long: "Shows the token and connection state of UpstreamServers, each followed by its UpstreamCredentials\n" +
			"(the logins of people to a PerSubject server, as credential/NAME): all of the namespace, or the server\n" +
			"NAME and its credentials, or the credential credential/NAME.",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: kf.completeTargets,
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
	servers, creds, err := listStatus(ctx, env, c, ns, o.allNamespaces, args)
	if err != nil {
		return err
	}
	return writeStatus(env, statusRows(servers, creds), o, ns)
}

// writeStatus prints rows as o.output asks.
func writeStatus(env *Env, rows []StatusRow, o *statusOptions, ns string) error {
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

// listStatus reads what args name: the one server NAME and its credentials, the one
// credential credential/NAME (and its server), or every server and credential of ns (or of
// all namespaces). Credentials that cannot be listed (a cluster without the
// UpstreamCredential CRD, or no right to list them) leave the servers to show, with a warning
// when it is the right that is missing.
func listStatus(ctx context.Context, env *Env, c client.Client, ns string, all bool, args []string) ([]mcpv1alpha1.UpstreamServer, []mcpv1alpha1.UpstreamCredential, error) {
	if len(args) == 1 {
		kind, name, err := parseTargetArg(args[0])
		if err != nil {
			return nil, nil, err
		}
		if kind == kindCredential {
			cred, err := getCredential(ctx, c, ns, name)
			if err != nil {
				return nil, nil, err
			}
			var servers []mcpv1alpha1.UpstreamServer
			us := &mcpv1alpha1.UpstreamServer{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: cred.Spec.ServerRef.Name}, us); err == nil {
				servers = append(servers, *us)
			}
			return servers, []mcpv1alpha1.UpstreamCredential{*cred}, nil
		}
		us, err := getServer(ctx, c, ns, name)
		if err != nil {
			return nil, nil, err
		}
		creds := listCredentials(ctx, env, c, ns, false)
		out := creds[:0]
		for _, cred := range creds {
			if cred.Spec.ServerRef.Name == name {
				out = append(out, cred)
			}
		}
		return []mcpv1alpha1.UpstreamServer{*us}, out, nil
	}
	var list mcpv1alpha1.UpstreamServerList
	opts := []client.ListOption{}
	if !all {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, nil, fmt.Errorf("listing UpstreamServers: %w", err)
	}
	return list.Items, listCredentials(ctx, env, c, ns, all), nil
}

// listCredentials lists the credentials of ns (or all namespaces), or none with a warning.
func listCredentials(ctx context.Context, env *Env, c client.Client, ns string, all bool) []mcpv1alpha1.UpstreamCredential {
	var list mcpv1alpha1.UpstreamCredentialList
	opts := []client.ListOption{}
	if !all {
		opts = append(opts, client.InNamespace(ns))
	}
	err := c.List(ctx, &list, opts...)
	switch {
	case err == nil:
		return list.Items
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		// A manager older than UpstreamCredential: there are none.
	default:
		fmt.Fprintf(env.ErrOut, "Warning: UpstreamCredentials are not listed: %s\n", oauth.Redact(err.Error()))
	}
	return nil
}

// statusRows are the servers' rows, each followed by its credentials' (by name). Credentials
// whose server is not listed (gone, or not asked for) come after the servers of their
// namespace.
func statusRows(servers []mcpv1alpha1.UpstreamServer, creds []mcpv1alpha1.UpstreamCredential) []StatusRow {
	type group struct {
		server *StatusRow
		creds  []StatusRow
	}
	type key struct {
		ns     string
		orphan bool
		name   string
	}
	groups := map[key]*group{}
	byName := map[types.NamespacedName]*mcpv1alpha1.UpstreamServer{}
	for i := range servers {
		us := &servers[i]
		byName[types.NamespacedName{Namespace: us.Namespace, Name: us.Name}] = us
		r := statusRow(us)
		groups[key{ns: us.Namespace, name: us.Name}] = &group{server: &r}
	}
	for i := range creds {
		cred := &creds[i]
		us := byName[types.NamespacedName{Namespace: cred.Namespace, Name: cred.Spec.ServerRef.Name}]
		k := key{ns: cred.Namespace, orphan: us == nil}
		if us != nil {
			k.name = us.Name
		}
		if groups[k] == nil {
			groups[k] = &group{}
		}
		r := credentialRow(cred, us)
		r.underServer = us != nil
		groups[k].creds = append(groups[k].creds, r)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.ns != b.ns:
			return a.ns < b.ns
		case a.orphan != b.orphan:
			return b.orphan
		}
		return a.name < b.name
	})
	rows := []StatusRow{}
	for _, k := range keys {
		g := groups[k]
		if g.server != nil {
			rows = append(rows, *g.server)
		}
		sort.Slice(g.creds, func(i, j int) bool { return g.creds[i].Name < g.creds[j].Name })
		rows = append(rows, g.creds...)
	}
	return rows
}

// statusRow summarises a server, reading each fact where the printer column of the same name
// reads it.
func statusRow(us *mcpv1alpha1.UpstreamServer) StatusRow {
	r := tokenRow(serverHolder(us))
	r.URL = us.Spec.URL
	r.CredentialMode = string(us.Spec.CredentialMode)
	if r.CredentialMode == "" {
		r.CredentialMode = string(mcpv1alpha1.CredentialModeShared)
	}
	if s := us.Status.Server; s != nil {
		n := s.Tools
		r.Tools = &n
	}
	return r
}

// credentialRow summarises a credential of us (nil when the server is missing), reading each
// fact where the server's row reads it.
func credentialRow(cred *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) StatusRow {
	r := tokenRow(credentialHolder(cred))
	r.Server = cred.Spec.ServerRef.Name
	r.Subjects = subjectRefs(cred.Spec.Subjects)
	if us != nil {
		r.URL = us.Spec.URL
	}
	return r
}

// tokenRow is the row of the token part of a server's or a credential's status.
func tokenRow(h *holder) StatusRow {
	r := StatusRow{Kind: h.kind, Namespace: h.key.Namespace, Name: h.key.Name, Ready: "Unknown"}
	if c := h.cond(mcpv1alpha1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = string(c.Status), c.Reason, c.Message
	}
	if a := h.authorization; a != nil {
		r.LoginCommand = a.LoginCommand
	}
	// A Ready server can still need a person (a rejected refresh token) or be failing its
	// refreshes: Ready's message does not say so, so the message says that instead.
	if r.Ready == string(metav1.ConditionTrue) {
		if c := h.cond(mcpv1alpha1.ConditionAuthorizationRequired); c != nil && c.Status == metav1.ConditionTrue {
			r.Message = c.Message
		} else if rs := h.refresh; rs != nil && rs.FailedAttempts > 0 {
			r.Message = "Last refresh failed: " + rs.LastFailureReason
		}
	}
	if t := h.token; t != nil {
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
	if rs := h.refresh; rs != nil {
		r.FailedAttempts = rs.FailedAttempts
	}
	return r
}

// statusColumns are the table's columns after NAME, in kubectl's order; shown says whether a
// column is in a table that is wide or not and lists credentials or not.
var statusColumns = []struct {
	name  string
	shown func(wide, credentials bool) bool
	cell  func(r StatusRow, now time.Time) string
}{
	{"READY", always, func(r StatusRow, _ time.Time) string { return r.Ready }},
	{"REASON", always, func(r StatusRow, _ time.Time) string { return orDash(r.Reason) }},
	{"LOGIN", always, func(r StatusRow, _ time.Time) string { return orDash(r.LoginCommand) }},
	{"EXPIRES", always, func(r StatusRow, now time.Time) string { return expiresCell(r.ExpiresAt, now) }},
	{"TOOLS", wideOnly, func(r StatusRow, _ time.Time) string {
		if r.Tools == nil {
			return "-"
		}
		return fmt.Sprint(*r.Tools)
	}},
	{"LAST REFRESH", always, func(r StatusRow, now time.Time) string {
		switch {
		case r.LastRefreshTime != nil:
			return humanDuration(now.Sub(*r.LastRefreshTime)) + " ago"
		case r.ExpiresAt != nil:
			return "never"
		}
		return "-"
	}},
	{"FAILURES", always, func(r StatusRow, _ time.Time) string { return fmt.Sprint(r.FailedAttempts) }},
	{"ACCOUNT", func(wide, creds bool) bool { return wide || creds }, func(r StatusRow, _ time.Time) string { return orDash(r.ObtainedBy) }},
	{"SUBJECTS", func(_, creds bool) bool { return creds }, func(r StatusRow, _ time.Time) string {
		return orDash(oneLine(strings.Join(r.Subjects, ",")))
	}},
	{"URL", wideOnly, func(r StatusRow, _ time.Time) string { return orDash(r.URL) }},
	{"MESSAGE", always, func(r StatusRow, _ time.Time) string { return oneLine(r.Message) }},
}

func always(bool, bool) bool     { return true }
func wideOnly(wide, _ bool) bool { return wide }

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
	creds := false
	for _, r := range rows {
		creds = creds || r.Kind == kindCredential
	}
	tw := tabwriter.NewWriter(env.Out, 0, 8, 3, ' ', 0)
	var header []string
	if withNamespace {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME")
	for _, c := range statusColumns {
		if c.shown(wide, creds) {
			header = append(header, c.name)
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		var cells []string
		if withNamespace {
			cells = append(cells, r.Namespace)
		}
		// A credential is named as the commands take it, indented under its server.
		name := r.Name
		if r.Kind == kindCredential {
			name = "credential/" + r.Name
			if r.underServer {
				name = "  " + name
			}
		}
		cells = append(cells, name)
		for _, c := range statusColumns {
			if c.shown(wide, creds) {
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
