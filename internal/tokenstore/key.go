package tokenstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Binding is what makes a token belong to a server. Its hash is part of the
// storage key, so a token saved for one URL, issuer, client or resource is
// never found under another: changing a server's URL starts from an empty
// record instead of sending the old token to the new URL.
//
// Values are compared byte for byte; callers that want "https://x/" and
// "https://x" to be the same server must normalise them first.
type Binding struct {
	// ServerURL is the MCP server's URL.
	ServerURL string
	// Issuer is the authorization server's issuer identifier.
	Issuer string
	// ClientID is the OAuth client the token was issued to.
	ClientID string
	// Resource is the RFC 8707 resource indicator the token is bound to.
	Resource string
}

// bindingHashDomain separates binding hashes from any other use of sha256.
const bindingHashDomain = "mcpproxy-tokenstore/binding/v1"

// bindingHashLen is the number of hex characters of the hash kept in the key
// (64 bits: collisions within one server's handful of bindings are not a
// concern, and Load also compares the full binding stored in the record).
const bindingHashLen = 16

// Hash returns the short hex sha256 of the binding used in storage keys.
// Every field is length-prefixed, so no two different bindings encode alike.
func (b Binding) Hash() string {
	h := sha256.New()
	h.Write([]byte(bindingHashDomain))
	var lenBuf [binary.MaxVarintLen64]byte
	for _, f := range b.fields() {
		n := binary.PutUvarint(lenBuf[:], uint64(len(f)))
		h.Write(lenBuf[:n])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))[:bindingHashLen]
}

func (b Binding) fields() [4]string {
	return [4]string{b.ServerURL, b.Issuer, b.ClientID, b.Resource}
}

// Key addresses one record: a server (namespace/name) and the binding the
// token belongs to. A server has at most one record per binding.
type Key struct {
	// Namespace of the server object.
	Namespace string
	// Name of the server object.
	Name string
	// Binding the token belongs to.
	Binding Binding
}

// String renders the key as namespace/name@bindinghash; it holds no secret.
func (k Key) String() string {
	return k.Namespace + "/" + k.Name + "@" + k.Binding.Hash()
}

// keySep separates namespace, name and binding hash in storage keys. It may
// not appear in a namespace or name, which makes a server's prefix
// "namespace/name/" unambiguous: server "a" never matches server "a-b".
const keySep = '/'

func validateServer(namespace, name string) error {
	for _, part := range [2]struct{ what, v string }{{"namespace", namespace}, {"name", name}} {
		if part.v == "" {
			return fmt.Errorf("%w: empty %s", ErrInvalidKey, part.what)
		}
		if strings.ContainsAny(part.v, "/\x00") {
			return fmt.Errorf("%w: %s %q contains '/' or NUL", ErrInvalidKey, part.what, part.v)
		}
	}
	return nil
}

// serverPrefix is the storage-key prefix shared by every binding of a server.
func serverPrefix(namespace, name string) []byte {
	p := make([]byte, 0, len(namespace)+len(name)+2)
	p = append(p, namespace...)
	p = append(p, keySep)
	p = append(p, name...)
	return append(p, keySep)
}

// storageKey is namespace/name/bindinghash.
func (k Key) storageKey() ([]byte, error) {
	if err := validateServer(k.Namespace, k.Name); err != nil {
		return nil, err
	}
	return append(serverPrefix(k.Namespace, k.Name), k.Binding.Hash()...), nil
}

// hashFromStorageKey returns the binding hash of a key under prefix, or false
// if the key is not exactly prefix+hash.
func hashFromStorageKey(prefix, key []byte) (string, bool) {
	if !bytes.HasPrefix(key, prefix) {
		return "", false
	}
	rest := key[len(prefix):]
	if len(rest) != bindingHashLen || bytes.IndexByte(rest, keySep) >= 0 {
		return "", false
	}
	return string(rest), true
}

// checkRecordBinding refuses a record whose own URL, issuer, client ID or
// resource contradicts the key it is saved under. Empty fields on either side
// are not compared.
func checkRecordBinding(k Key, r *Record) error {
	pairs := [...]struct{ what, rec, key string }{
		{"server URL", r.ServerURL, k.Binding.ServerURL},
		{"issuer", r.Issuer, k.Binding.Issuer},
		{"client ID", r.Client.ClientID, k.Binding.ClientID},
		{"resource", r.Resource, k.Binding.Resource},
	}
	for _, p := range pairs {
		if p.rec != "" && p.key != "" && p.rec != p.key {
			return fmt.Errorf("%w: %s: record %s %q, key %s %q", ErrBindingMismatch, k, p.what, p.rec, p.what, p.key)
		}
	}
	return nil
}
