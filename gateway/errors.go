package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// JSON-RPC error codes the gateway answers with (the implementation-defined server error range).
const (
	// CodeUnauthenticated: no valid Kubernetes bearer token (HTTP 401).
	CodeUnauthenticated = -32001
	// CodeForbidden: the caller may not `use` the UpstreamServer (HTTP 403).
	CodeForbidden = -32003
	// CodeNotFound: no such UpstreamServer or route (HTTP 404).
	CodeNotFound = -32004
	// CodeMethodNotAllowed: the pass-through forwards only POST, GET and DELETE (HTTP 405).
	CodeMethodNotAllowed = -32005
	// CodeAuthorizationRequired: a person must log in; data.loginCommand says how (HTTP 503).
	CodeAuthorizationRequired = -32010
	// CodeNotReady: the server is not ready (refresh backing off, suspended, not reconciled);
	// HTTP 503, with Retry-After when the gateway knows when to try again.
	CodeNotReady = -32011
	// CodeUpstreamRejected: the upstream rejected the token even after a refresh was asked for.
	CodeUpstreamRejected = -32012
	// CodeBadGateway: the upstream could not be reached or answered something unusable (HTTP 502).
	CodeBadGateway = -32013
	// CodeTooManyRequests: a limit of the gateway was reached (HTTP 429 with Retry-After):
	// data.reason says which, ReasonTooManySessions or ReasonReviewRateLimited.
	CodeTooManyRequests = -32029
	// CodeInternal: the gateway could not decide (for example the review API failed; HTTP 500).
	CodeInternal = -32603
)

// Reasons of the gateway's own limits, in data.reason of a CodeTooManyRequests error.
const (
	// ReasonTooManySessions: the caller already holds Options.MaxSessionsPerIdentity open /mcp
	// sessions; closing one (DELETE) frees its slot.
	ReasonTooManySessions = "TooManySessions"
	// ReasonReviewRateLimited: too many tokens the gateway had no answer for were presented
	// lately, from the caller's address or in total.
	ReasonReviewRateLimited = "ReviewRateLimited"
)

// rpcErrorData is the data member of the gateway's JSON-RPC errors.
type rpcErrorData struct {
	Server string `json:"server,omitempty"`
	// Credential is the caller's UpstreamCredential the error is about (PerSubject servers).
	Credential        string `json:"credential,omitempty"`
	Reason            string `json:"reason,omitempty"`
	LoginCommand      string `json:"loginCommand,omitempty"`
	RetryAfterSeconds int    `json:"retryAfterSeconds,omitempty"`
}

type rpcError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Data    *rpcErrorData `json:"data,omitempty"`
}

type rpcErrorResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcError        `json:"error"`
}

// rpcErrorBody encodes a JSON-RPC error response; id nil means null.
func rpcErrorBody(id json.RawMessage, code int, msg string, data *rpcErrorData) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(rpcErrorResponse{JSONRPC: "2.0", ID: id, Error: rpcError{Code: code, Message: msg, Data: data}})
	return b
}

// writeRPCError answers with a JSON-RPC error and an HTTP status; retryAfter > 0 adds Retry-After.
func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string, data *rpcErrorData, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retrySeconds(retryAfter)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(rpcErrorBody(id, code, msg, data))
}

// rpcErrorResponseFor builds an *http.Response carrying a JSON-RPC error, for the transport:
// the gateway's own answer instead of the upstream's. A catalog session's request also leaves
// it in the refusal slot of its context (withRefusalSlot), because the SDK's client keeps
// nothing of a 502 or 503 answer but its status: a tool call on /mcp tells its caller the
// gateway's reason from there.
func rpcErrorResponseFor(req *http.Request, status, code int, msg string, data *rpcErrorData, retryAfter time.Duration) *http.Response {
	body := rpcErrorBody(requestRPCID(req), code, msg, data)
	h := http.Header{"Content-Type": {"application/json"}}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retrySeconds(retryAfter)))
	}
	if slot := refusalSlotFrom(req.Context()); slot != nil {
		// A tool call's caller sees no header: the wait goes into data.
		d := rpcErrorData{}
		if data != nil {
			d = *data
		}
		if retryAfter > 0 && d.RetryAfterSeconds == 0 {
			d.RetryAfterSeconds = retrySeconds(retryAfter)
		}
		slot.set(&refusal{code: code, msg: msg, data: &d})
	}
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// refusal is an answer the gateway made itself instead of forwarding a request upstream.
type refusal struct {
	code int
	msg  string
	data *rpcErrorData
}

// rpcError is the refusal as a JSON-RPC error of a tool call.
func (r *refusal) rpcError() *jsonrpc.Error {
	e := &jsonrpc.Error{Code: int64(r.code), Message: r.msg}
	if r.data != nil {
		e.Data, _ = json.Marshal(r.data)
	}
	return e
}

// refusalSlot holds the last refusal met by the requests of one tool call.
type refusalSlot struct {
	mu sync.Mutex
	r  *refusal
}

func (s *refusalSlot) set(r *refusal) {
	s.mu.Lock()
	s.r = r
	s.mu.Unlock()
}

func (s *refusalSlot) get() *refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r
}

type refusalSlotKey struct{}

// withRefusalSlot gives the requests made under ctx a slot for the gateway's refusals.
func withRefusalSlot(ctx context.Context) (context.Context, *refusalSlot) {
	slot := &refusalSlot{}
	return context.WithValue(ctx, refusalSlotKey{}, slot), slot
}

func refusalSlotFrom(ctx context.Context) *refusalSlot {
	slot, _ := ctx.Value(refusalSlotKey{}).(*refusalSlot)
	return slot
}

func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// rpcIDOf returns the id of a single JSON-RPC request, or nil (a batch, a notification, or not JSON).
func rpcIDOf(body []byte) json.RawMessage {
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &m) != nil {
		return nil
	}
	return m.ID
}

type rpcIDKey struct{}

// requestRPCID is the JSON-RPC id the gateway read from the request body, if any.
func requestRPCID(r *http.Request) json.RawMessage {
	id, _ := r.Context().Value(rpcIDKey{}).(json.RawMessage)
	return id
}
