package gateway

import (
	"errors"
	"slices"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// recordTTL is how long the gateway uses a token record it read from the store before it
// reads the store again. Within it a request costs no store read and no decryption (the
// pass-through read and decrypted the record twice per request, a /mcp tool call too).
//
// One second bounds what the cache can hold back. A refresh: the previous access token stays
// valid upstream until its expiry, which is minutes later. A logout or a new login: the old
// token is sent for at most one second more, and a logout revokes it upstream as well. Every
// path that reacts to an upstream's refusal (the 401 retry, the explanation of a rejected
// token) and every check of whose login a catalog session carries reads the store afresh, and
// a revision the gateway waited for (a refresh it asked for) replaces the cached one at once.
const recordTTL = time.Second

// maxCachedRecords bounds the records held: one per token holder (Shared server or
// credential) in use, least recently used first out.
const maxCachedRecords = 4096

// records reads token records through a short cache. It keeps only what forwarding needs (the
// access token, its type, expiry and revision, the URL it was issued for, and the login it
// comes from), never the refresh token or the client's registration.
type records struct {
	store TokenReader
	c     *ttlCache[tokenstore.Key, *tokenstore.Record] // nil: no record stored
}

func newRecords(store TokenReader) *records {
	return &records{store: store, c: newTTLCache[tokenstore.Key, *tokenstore.Record](recordTTL, maxCachedRecords)}
}

// load returns k's record, nil when none is stored, from the cache when it is fresh enough:
// a cached token that expires within recordTTL (short-lived tokens are refreshed about then)
// is read afresh, so the cache never sends an expired token when the store holds its successor.
func (r *records) load(k tokenstore.Key) (*tokenstore.Record, error) {
	if rec, ok := r.c.get(k); ok && rec != nil && (rec.Expiry.IsZero() || time.Until(rec.Expiry) > recordTTL) {
		return rec, nil
	}
	return r.fresh(k)
}

// fresh reads k's record from the store, bypassing the cache, and caches it. A missing record
// is not served from the cache (load reads again): a login that lands is used at once, not a
// second later; the nil put only drops a record cached before.
func (r *records) fresh(k tokenstore.Key) (*tokenstore.Record, error) {
	rec, err := r.store.Load(k)
	if errors.Is(err, tokenstore.ErrNotFound) {
		r.c.put(k, nil)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.seen(k, rec), nil
}

// seen caches rec, read for k elsewhere (a revision the store announced), and returns what
// the cache keeps of it.
func (r *records) seen(k tokenstore.Key, rec *tokenstore.Record) *tokenstore.Record {
	t := forwardable(rec)
	r.c.put(k, t)
	return t
}

// forwardable is what the gateway needs of rec.
func forwardable(rec *tokenstore.Record) *tokenstore.Record {
	return &tokenstore.Record{
		AccessToken: rec.AccessToken, TokenType: rec.TokenType, Expiry: rec.Expiry, Revision: rec.Revision,
		ServerURL: rec.ServerURL, Scopes: slices.Clone(rec.Scopes), ObtainedAt: rec.ObtainedAt, ObtainedBy: rec.ObtainedBy,
	}
}
