package upstream

import (
	"testing"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// A Secret opts in by naming the server, or "*"; nothing else lets a server use it.
func TestSecretAllows(t *testing.T) {
	const key = mcpv1alpha1.AnnotationAllowedServers
	for name, tc := range map[string]struct {
		annotations map[string]string
		server      string
		want        bool
	}{
		"no annotations":                  {nil, "linear", false},
		"other annotations only":          {map[string]string{"mcpproxy.dev/created-by": "linear"}, "linear", false},
		"empty value":                     {map[string]string{key: ""}, "linear", false},
		"only commas and blanks":          {map[string]string{key: " , ,"}, "linear", false},
		"the one name":                    {map[string]string{key: "linear"}, "linear", true},
		"another name":                    {map[string]string{key: "github"}, "linear", false},
		"in a list":                       {map[string]string{key: "github,linear"}, "linear", true},
		"in a list with blanks":           {map[string]string{key: " github , linear "}, "linear", true},
		"a prefix is not the name":        {map[string]string{key: "line"}, "linear", false},
		"the name is not a prefix":        {map[string]string{key: "linear-2"}, "linear", false},
		"names are case-sensitive":        {map[string]string{key: "Linear"}, "linear", false},
		"no glob but the star":            {map[string]string{key: "lin*"}, "linear", false},
		"star":                            {map[string]string{key: "*"}, "linear", true},
		"star in a list":                  {map[string]string{key: "github, *"}, "linear", true},
		"a blank name is allowed nothing": {map[string]string{key: "*"}, "", false},
		"a namespaced name is not a name": {map[string]string{key: "default/linear"}, "linear", false},
		"the annotation key is exact":     {map[string]string{"mcpproxy.dev/allowed-server": "linear"}, "linear", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := SecretAllows(tc.annotations, tc.server); got != tc.want {
				t.Fatalf("SecretAllows(%v, %q) = %v, want %v", tc.annotations, tc.server, got, tc.want)
			}
		})
	}
}
