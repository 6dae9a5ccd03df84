package upstream

import (
	"fmt"
	"strings"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SecretAllows says whether a Secret with these annotations lets the UpstreamServer named server
// (in the Secret's namespace) use its values: its mcpproxy.dev/allowed-servers annotation lists
// the name or "*". A Secret without the annotation allows no server, so the right to create an
// UpstreamServer is not the right to send any Secret of the namespace to a URL of one's choosing.
func SecretAllows(annotations map[string]string, server string) bool {
	if server == "" {
		return false
	}
	list, ok := annotations[mcpv1alpha1.AnnotationAllowedServers]
	if !ok {
		return false
	}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == mcpv1alpha1.AllowedServersAll || entry == server {
			return true
		}
	}
	return false
}

// notAllowed is the refusal for a Secret that does not opt in: it names the field, the Secret
// and the annotation to add, so the message (a ConfigInvalid condition) says what to do.
func notAllowed(what, ns, secret, server string) error {
	return fmt.Errorf("%s: Secret %s/%s does not allow UpstreamServer %q to use it; add the annotation %s=%s "+
		"(or %q for every server in the namespace)", what, ns, secret, server,
		mcpv1alpha1.AnnotationAllowedServers, server, mcpv1alpha1.AllowedServersAll)
}
