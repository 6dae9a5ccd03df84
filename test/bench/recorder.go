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

// recorder wraps the OAuth server's handler and remembers every refresh_token grant by token
// holder: a server whose OAuth client is its own is its client ID; a holder sharing a client with
// others (the credentials of one PerSubject server, one upstream user each) is the name its
// seed refresh token was tracked under, followed along each rotation. Clients whose ID starts
// with rawClientPrefix are the plain HTTP client's, counted apart.
type recorder struct {
	mu       sync.Mutex
	byHolder map[string][]refreshEvent
	// chains maps a tracked holder's current refresh token to the holder.
	chains map[string]string
	failed int
}

const rawClientPrefix = "raw-"

func newRecorder() *recorder {
	return &recorder{byHolder: map[string][]refreshEvent{}, chains: map[string]string{}}
}

// track names the holder of refreshToken, and of every refresh token it is rotated into. Call
// it before the token can be spent (before its hand-over exists).
func (rc *recorder) track(refreshToken, holder string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.chains[refreshToken] = holder
}

func (rc *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/token") {
			next.ServeHTTP(w, r)
			return
		}
		arrived := time.Now()
		_ = r.ParseForm() // the handler parses again; ParseForm is idempotent
		cid, spent := r.PostForm.Get("client_id"), r.PostForm.Get("refresh_token")
		if r.PostForm.Get("grant_type") != "refresh_token" || strings.HasPrefix(cid, rawClientPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(cw, r)
		answered := time.Now()
		var body struct {
			ExpiresIn    int64  `json:"expires_in"`
			RefreshToken string `json:"refresh_token"`
		}
		ok := cw.status == http.StatusOK && json.Unmarshal(cw.body.Bytes(), &body) == nil
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !ok {
			rc.failed++
			return
		}
		holder := cid
		if h, tracked := rc.chains[spent]; tracked {
			holder = h
			if body.RefreshToken != "" && body.RefreshToken != spent {
				delete(rc.chains, spent)
				rc.chains[body.RefreshToken] = h
			}
		}
		rc.byHolder[holder] = append(rc.byHolder[holder], refreshEvent{arrived, answered, time.Duration(body.ExpiresIn) * time.Second})
	})
}

// snapshot copies the events of every holder.
func (rc *recorder) snapshot() (map[string][]refreshEvent, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string][]refreshEvent, len(rc.byHolder))
	for k, v := range rc.byHolder {
		out[k] = append([]refreshEvent(nil), v...)
	}
	return out, rc.failed
}

// holdersBetween counts the holders with a refresh that arrived in [from, to), each once, with
// the first arrival and the last answer of each holder's first refresh there: a burst is over
// when every holder has refreshed, whatever else some of them did meanwhile (a refresh of its
// own schedule, then the one asked for).
func (rc *recorder) holdersBetween(from, to time.Time) (n int, first, last time.Time) {
	return rc.between(from, to, true)
}

// countBetween counts refreshes that arrived in [from, to).
func (rc *recorder) countBetween(from, to time.Time) (n int, first, last time.Time) {
	return rc.between(from, to, false)
}

// between counts the refreshes that arrived in [from, to), only each holder's first when
// firstOnly, with the first arrival and the last answer among them.
func (rc *recorder) between(from, to time.Time, firstOnly bool) (n int, first, last time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, evs := range rc.byHolder {
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
			if firstOnly {
				break // events are in arrival order: one refresh at a time per holder
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
