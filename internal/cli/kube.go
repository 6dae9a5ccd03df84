package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// kubeFlags are kubectl's connection flags; KUBECONFIG is honoured as kubectl does.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (k *kubeFlags) bind(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).")
	f.StringVar(&k.context, "context", "", "The kubeconfig context to use.")
	f.StringVarP(&k.namespace, "namespace", "n", "", "The namespace (default: the context's).")
	_ = cmd.RegisterFlagCompletionFunc("context", k.completeContexts)
}

func (k *kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	overrides.Context.Namespace = k.namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// connect returns a client and the namespace to use.
func (k *kubeFlags) connect() (client.Client, string, error) {
	cc := k.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := mcpv1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return c, ns, nil
}

func (k *kubeFlags) completeContexts(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	raw, err := k.clientConfig().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for name := range raw.Contexts {
		out = append(out, name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeServers completes UpstreamServer names in the namespace.
func (k *kubeFlags) completeServers(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, ns, err := k.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list mcpv1alpha1.UpstreamServerList
	if err := c.List(cmd.Context(), &list, client.InNamespace(ns)); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, us := range list.Items {
		if strings.HasPrefix(us.Name, prefix) {
			out = append(out, us.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTargets completes UpstreamServer names and, as credential/NAME, UpstreamCredential
// names in the namespace.
func (k *kubeFlags) completeTargets(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	out, dir := k.completeServers(cmd, args, prefix)
	if len(args) > 0 {
		return out, dir
	}
	creds, _ := k.completeCredentials(cmd, args, "")
	for _, name := range creds {
		if ref := "credential/" + name; strings.HasPrefix(ref, prefix) {
			out = append(out, ref)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeCredentials completes UpstreamCredential names in the namespace.
func (k *kubeFlags) completeCredentials(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	c, ns, err := k.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list mcpv1alpha1.UpstreamCredentialList
	if err := c.List(cmd.Context(), &list, client.InNamespace(ns)); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, cred := range list.Items {
		if strings.HasPrefix(cred.Name, prefix) {
			out = append(out, cred.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// getServer reads one UpstreamServer with a message a person can act on.
func getServer(ctx context.Context, c client.Client, ns, name string) (*mcpv1alpha1.UpstreamServer, error) {
	us := &mcpv1alpha1.UpstreamServer{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, us); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("UpstreamServer %q not found in namespace %q (list them with: mcpproxy auth status -n %s)", name, ns, ns)
		}
		return nil, fmt.Errorf("reading UpstreamServer %s/%s: %w", ns, name, err)
	}
	return us, nil
}
