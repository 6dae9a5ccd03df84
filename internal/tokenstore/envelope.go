package tokenstore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Stored value layout (all integers uvarint, strings length-prefixed):
//
//	version(1 byte) | revision | keyID | serverURL | issuer | clientID | resource | nonce(12) | AES-256-GCM ciphertext
//
// The header (everything before the nonce) is not secret: it lets the store
// check revisions and list bindings without decrypting. It is authenticated,
// together with the storage key, as GCM additional data, so a value copied
// to another key, or with an edited revision or binding, fails to open.
const envelopeVersion = 1

const nonceSize = 12

// envelopeHeader is the clear, authenticated part of a stored value.
type envelopeHeader struct {
	revision uint64
	keyID    string
	binding  Binding
}

// payload is the sealed part: the record without its revision and binding
// (those live in the header). JSON tags keep the stored form stable when
// Record's Go fields are renamed.
type payload struct {
	AccessToken        string    `json:"at,omitempty"`
	RefreshToken       string    `json:"rt,omitempty"`
	TokenType          string    `json:"tt,omitempty"`
	Expiry             time.Time `json:"exp,omitzero"`
	Scopes             []string  `json:"scp,omitempty"`
	ClientID           string    `json:"cid,omitempty"`
	ClientSecret       string    `json:"cs,omitempty"`
	AuthMethod         string    `json:"cam,omitempty"`
	RedirectURI        string    `json:"cru,omitempty"`
	Issuer             string    `json:"iss,omitempty"`
	TokenEndpoint      string    `json:"te,omitempty"`
	RevocationEndpoint string    `json:"re,omitempty"`
	Resource           string    `json:"res,omitempty"`
	ServerURL          string    `json:"url,omitempty"`
	ObtainedAt         time.Time `json:"oat,omitzero"`
	RefreshedAt        time.Time `json:"rat,omitzero"`
	RefreshCount       int64     `json:"rc,omitempty"`
	CorrelationID      string    `json:"corr,omitempty"`
	ObtainedBy         string    `json:"by,omitempty"`
}

func toPayload(r *Record) payload {
	return payload{
		AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, TokenType: r.TokenType,
		Expiry: r.Expiry, Scopes: r.Scopes,
		ClientID: r.Client.ClientID, ClientSecret: r.Client.ClientSecret,
		AuthMethod: r.Client.AuthMethod, RedirectURI: r.Client.RedirectURI,
		Issuer: r.Issuer, TokenEndpoint: r.TokenEndpoint, RevocationEndpoint: r.RevocationEndpoint,
		Resource: r.Resource, ServerURL: r.ServerURL, ObtainedAt: r.ObtainedAt, RefreshedAt: r.RefreshedAt,
		RefreshCount: r.RefreshCount, CorrelationID: r.CorrelationID, ObtainedBy: r.ObtainedBy,
	}
}

// encodePayload is the plaintext that seal encrypts.
func encodePayload(r *Record) ([]byte, error) {
	b, err := json.Marshal(toPayload(r))
	if err != nil {
		return nil, fmt.Errorf("encoding token record: %w", err)
	}
	return b, nil
}

func (p *payload) record(rev uint64) *Record {
	return &Record{
		AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: p.TokenType,
		Expiry: p.Expiry, Scopes: p.Scopes,
		Client: ClientRegistration{ClientID: p.ClientID, ClientSecret: p.ClientSecret, AuthMethod: p.AuthMethod, RedirectURI: p.RedirectURI},
		Issuer: p.Issuer, TokenEndpoint: p.TokenEndpoint, RevocationEndpoint: p.RevocationEndpoint,
		Resource: p.Resource, ServerURL: p.ServerURL, ObtainedAt: p.ObtainedAt, RefreshedAt: p.RefreshedAt,
		RefreshCount: p.RefreshCount, CorrelationID: p.CorrelationID, ObtainedBy: p.ObtainedBy, Revision: rev,
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (h *envelopeHeader) encode() []byte {
	b := []byte{envelopeVersion}
	b = binary.AppendUvarint(b, h.revision)
	b = appendString(b, h.keyID)
	for _, f := range h.binding.fields() {
		b = appendString(b, f)
	}
	return b
}

var errBadHeader = errors.New("malformed envelope header")

// decodeHeader parses the clear header and returns it with the header bytes
// (the additional data) and the rest (nonce and ciphertext).
func decodeHeader(v []byte) (envelopeHeader, []byte, []byte, error) {
	var h envelopeHeader
	if len(v) == 0 || v[0] != envelopeVersion {
		return h, nil, nil, fmt.Errorf("%w: unknown envelope version", errBadHeader)
	}
	rest := v[1:]
	rev, n := binary.Uvarint(rest)
	if n <= 0 {
		return h, nil, nil, errBadHeader
	}
	h.revision, rest = rev, rest[n:]
	var strs [5]string
	for i := range strs {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return h, nil, nil, errBadHeader
		}
		strs[i], rest = string(rest[n:n+int(l)]), rest[n+int(l):]
	}
	h.keyID = strs[0]
	h.binding = Binding{ServerURL: strs[1], Issuer: strs[2], ClientID: strs[3], Resource: strs[4]}
	return h, v[:len(v)-len(rest)], rest, nil
}

func additionalData(storageKey, header []byte) []byte {
	ad := make([]byte, 0, len(storageKey)+1+len(header))
	ad = append(ad, storageKey...)
	ad = append(ad, 0)
	return append(ad, header...)
}

// seal encrypts an encoded payload under the keyring's active key.
func (kr *keyring) seal(storageKey []byte, b Binding, rev uint64, plain []byte) ([]byte, error) {
	h := envelopeHeader{revision: rev, keyID: kr.activeID, binding: b}
	header := h.encode()
	aead := kr.aeads[kr.activeID]
	out := make([]byte, len(header), len(header)+nonceSize+len(plain)+aead.Overhead())
	copy(out, header)
	nonce := out[len(header) : len(header)+nonceSize]
	out = out[:len(header)+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	return aead.Seal(out, nonce, plain, additionalData(storageKey, header)), nil
}

// open decrypts a stored value for k. Every failure is a *CorruptRecordError
// that says why without quoting the value.
func (kr *keyring) open(k Key, storageKey, v []byte) (*Record, error) {
	h, header, rest, err := decodeHeader(v)
	if err != nil {
		return nil, &CorruptRecordError{Key: k, Reason: "cannot parse stored value", Err: err}
	}
	fail := func(reason string, err error) error {
		return &CorruptRecordError{Key: k, Revision: h.revision, KeyID: h.keyID, Reason: reason, Err: err}
	}
	if h.binding != k.Binding {
		return nil, fail("stored binding differs from the key's binding (hash collision or tampering)", nil)
	}
	aead, ok := kr.aeads[h.keyID]
	if !ok {
		return nil, fail("sealed with an encryption key that is not in the key file", nil)
	}
	if len(rest) < nonceSize+aead.Overhead() {
		return nil, fail("stored value is truncated", nil)
	}
	plain, err := aead.Open(nil, rest[:nonceSize], rest[nonceSize:], additionalData(storageKey, header))
	if err != nil {
		return nil, fail("decryption failed (wrong key or damaged value)", err)
	}
	var p payload
	err = json.Unmarshal(plain, &p)
	clear(plain)
	if err != nil {
		// json errors can quote input bytes: do not wrap them.
		return nil, fail("decrypted value is not a valid record", nil)
	}
	return p.record(h.revision), nil
}
