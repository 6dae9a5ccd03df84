package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// refreshEvent is one successful refresh seen at the token endpoint.
type refreshEvent struct {
	Arrived, Answered time.Time
	ExpiresIn         time.Duration
}

// recorder wraps the OAuth server's handler and remembers every refresh_token grant by client ID.
// Clients whose ID starts with rawClientPrefix are the plain HTTP client's, counted apart.
type recorder struct {
	mu       sync.Mutex
	byClient map[string][]refreshEvent
	failed   int
}

const rawClientPrefix = "raw-"

func newRecorder() *recorder { return &recorder{byClient: map[string][]refreshEvent{}} }

func (rc *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
			next.ServeHTTP(w, r)
			return
		}
		arrived := time.Now()
		_ = r.ParseForm() // the handler parses again; ParseForm is idempotent
		cid := r.PostForm.Get("client_id")
		if r.PostForm.Get("grant_type") != "refresh_token" || strings.HasPrefix(cid, rawClientPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(cw, r)
		answered := time.Now()
		var body struct {
			ExpiresIn int64 `json:"expires_in"`
		}
		ok := cw.status == http.StatusOK && json.Unmarshal(cw.body.Bytes(), &body) == nil
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !ok {
			rc.failed++
			return
		}
		rc.byClient[cid] = append(rc.byClient[cid], refreshEvent{arrived, answered, time.Duration(body.ExpiresIn) * time.Second})
	})
}

// snapshot copies the events of every client.
func (rc *recorder) snapshot() (map[string][]refreshEvent, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string][]refreshEvent, len(rc.byClient))
	for k, v := range rc.byClient {
		out[k] = append([]refreshEvent(nil), v...)
	}
	return out, rc.failed
}

// countBetween counts refreshes that arrived in [from, to).
func (rc *recorder) countBetween(from, to time.Time) (n int, first, last time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, evs := range rc.byClient {
		for _, e := range evs {
			if e.Arrived.Before(from) || !e.Arrived.Before(to) {
				continue
			}
			n++
			if first.IsZero() || e.Arrived.Before(first) {
				first = e.Arrived
			}
			if e.Answered.After(last) {
				last = e.Answered
			}
		}
	}
	return n, first, last
}

type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}
