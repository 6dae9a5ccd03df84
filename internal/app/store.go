package app

import (
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The token store backends (Options.TokenStoreBackend, --token-store-backend).
const (
	// StoreBackendBolt is the bbolt file (Options.TokenStore): the default, for one replica
	// and local runs.
	StoreBackendBolt = "bolt"
	// StoreBackendSecrets is one Secret per record in Options.TokenStoreNamespace
	// (internal/secretstore), sealed with the key file all replicas mount.
	StoreBackendSecrets = "secrets"
)

// openStore opens the configured backend. Both seal with the same key file into the same bytes
// (`manager migrate-store` copies one into the other).
func openStore(cfg *rest.Config, o Options, log logr.Logger) (tokenstore.Backend, error) {
	log = log.WithName("tokenstore")
	switch o.TokenStoreBackend {
	case "", StoreBackendBolt:
		if o.TokenStore == "" {
			return nil, errors.New("app: Options.TokenStore is required for the bolt token store")
		}
		s, err := tokenstore.Open(o.TokenStore, tokenstore.Options{
			KeyFile: o.KeyFile, OpenTimeout: o.StoreOpenTimeout, NoSync: o.NoSync, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("opening the token store %s: %w", o.TokenStore, err)
		}
		return s, nil
	case StoreBackendSecrets:
		if o.TokenStoreNamespace == "" {
			return nil, errors.New("app: Options.TokenStoreNamespace is required for the secrets token store")
		}
		// Every replica must seal with the same key: the file is never generated here.
		keys, err := tokenstore.LoadKeyring(o.KeyFile, log)
		if err != nil {
			return nil, fmt.Errorf("opening the token store on Secrets: %w", err)
		}
		s, err := secretstore.NewForConfig(cfg, secretstore.Options{Namespace: o.TokenStoreNamespace, Keys: keys, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening the token store on Secrets in namespace %s: %w", o.TokenStoreNamespace, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("app: unknown token store backend %q (want %s or %s)", o.TokenStoreBackend, StoreBackendBolt, StoreBackendSecrets)
}
