package upstream

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// ResolveHeaders resolves spec.headers, reading the Secrets they name through r (an uncached
// reader: the manager caches only hand-over Secrets). Nil when the spec has none. A Secret is
// used only if it allows us (SecretAllows). Errors name the header, Secret and key, never a value.
func ResolveHeaders(ctx context.Context, r client.Reader, us *mcpv1alpha1.UpstreamServer) (http.Header, error) {
	if len(us.Spec.Headers) == 0 {
		return nil, nil
	}
	h := http.Header{}
	for _, hs := range us.Spec.Headers {
		v, err := headerValue(ctx, r, us, hs)
		if err != nil {
			return nil, err
		}
		h.Set(hs.Name, v)
	}
	return h, nil
}

func headerValue(ctx context.Context, r client.Reader, us *mcpv1alpha1.UpstreamServer, h mcpv1alpha1.HeaderSpec) (string, error) {
	if h.Value != nil {
		oauth.RegisterSecret(*h.Value)
		return *h.Value, nil
	}
	if h.ValueFrom == nil {
		return "", fmt.Errorf("header %s has neither value nor valueFrom", h.Name)
	}
	return SecretValue(ctx, r, us, h.ValueFrom.SecretKeyRef, "header "+h.Name)
}

// SecretValue reads one key of a Secret in us's namespace for us. what names the field that
// refers to it, for the error message. The Secret must allow us (SecretAllows): whoever may
// create an UpstreamServer chooses its URL, and that is no right to another's credential.
func SecretValue(ctx context.Context, r client.Reader, us *mcpv1alpha1.UpstreamServer, ref mcpv1alpha1.SecretKeyReference, what string) (string, error) {
	ns := us.Namespace
	var s corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%s: Secret %s/%s not found; create it with the annotation %s=%s, or fix the reference",
				what, ns, ref.Name, mcpv1alpha1.AnnotationAllowedServers, us.Name)
		}
		return "", fmt.Errorf("%s: reading Secret %s/%s: %w", what, ns, ref.Name, err)
	}
	// Decided before the data is looked at: a Secret that does not opt in says nothing of its
	// keys, and its values are never registered, held or sent.
	if !SecretAllows(s.Annotations, us.Name) {
		return "", notAllowed(what, ns, ref.Name, us.Name)
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%s: Secret %s/%s has no key %q", what, ns, ref.Name, ref.Key)
	}
	// Whoever reads a credential makes sure no log line or status can show it.
	oauth.RegisterSecret(string(v))
	return string(v), nil
}
