package controllers

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// serverConfig is the spec with its Secret references resolved.
type serverConfig struct {
	oauth  oauth.Config
	target mcpconn.Target
	// staticOnly is true for servers that use static headers (an API key) and declare no OAuth.
	staticOnly bool
}

// resolveConfig reads the Secrets the spec names. Errors name the Secret and key, never a value.
func (r *UpstreamServerReconciler) resolveConfig(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (*serverConfig, error) {
	cfg := &serverConfig{
		target: mcpconn.Target{URL: us.Spec.URL, Transport: string(us.Spec.Transport)},
		oauth:  oauth.Config{ServerURL: us.Spec.URL},
	}
	if len(us.Spec.Headers) > 0 {
		cfg.target.Headers = http.Header{}
		for _, h := range us.Spec.Headers {
			v, err := r.headerValue(ctx, us.Namespace, h)
			if err != nil {
				return nil, err
			}
			cfg.target.Headers.Set(h.Name, v)
		}
		cfg.staticOnly = us.Spec.OAuth == nil
	}
	if o := us.Spec.OAuth; o != nil {
		cfg.oauth.ClientID = o.ClientID
		cfg.oauth.ClientMetadataURL = o.ClientMetadataURL
		cfg.oauth.Scopes = o.Scopes
		cfg.oauth.Resource = o.Resource
		cfg.oauth.AuthorizationServer = o.AuthorizationServer
		cfg.oauth.ExtraParams = o.ExtraParams
		if o.ClientSecretRef != nil {
			v, err := r.secretValue(ctx, us.Namespace, *o.ClientSecretRef, "spec.oauth.clientSecretRef")
			if err != nil {
				return nil, err
			}
			cfg.oauth.ClientSecret = v
		}
	}
	return cfg, nil
}

func (r *UpstreamServerReconciler) headerValue(ctx context.Context, ns string, h mcpv1alpha1.HeaderSpec) (string, error) {
	if h.Value != nil {
		return *h.Value, nil
	}
	if h.ValueFrom == nil {
		return "", fmt.Errorf("header %s has neither value nor valueFrom", h.Name)
	}
	return r.secretValue(ctx, ns, h.ValueFrom.SecretKeyRef, "header "+h.Name)
}

// secretValue reads one key of a Secret straight from the API server (not the cache, which
// holds only hand-over Secrets).
func (r *UpstreamServerReconciler) secretValue(ctx context.Context, ns string, ref mcpv1alpha1.SecretKeyReference, what string) (string, error) {
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%s: Secret %s/%s not found; create it or fix the reference", what, ns, ref.Name)
		}
		return "", fmt.Errorf("%s: reading Secret %s/%s: %w", what, ns, ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%s: Secret %s/%s has no key %q", what, ns, ref.Name, ref.Key)
	}
	return string(v), nil
}
