package oauthserver

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// adminRoutes mounts the scripting endpoints, the HTTP face of the Go
// methods of the same names, for tests written in other languages and for
// demos. Parameters come from the query or a form body.
//
//	GET  /admin/stats                                   Stats as JSON
//	GET  /admin/issued                                  IssuedSecrets as JSON
//	POST /admin/fail-token?n=2&fault=503&retry_after=5s&delay=3s
//	POST /admin/revoke-all
//	POST /admin/mcp-outage?mode=503|drop|none&for=30s
//	POST /admin/reset
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/stats", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	}))
	mux.HandleFunc("GET /admin/issued", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.IssuedSecrets())
	}))
	mux.HandleFunc("POST /admin/fail-token", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.FormValue("n"))
		if r.FormValue("n") == "" {
			n, err = 1, nil
		}
		f := Fault{Kind: FaultKind(r.FormValue("fault"))}
		var err1, err2 error
		f.RetryAfter, err1 = optionalDuration(r.FormValue("retry_after"))
		f.Delay, err2 = optionalDuration(r.FormValue("delay"))
		switch f.Kind {
		case FaultServerError, FaultUnavailable, FaultInvalidGrant, FaultInvalidClient, FaultSlow, FaultMalformed:
		default:
			http.Error(w, "fault must be one of 500, 503, invalid_grant, invalid_client, slow, malformed", http.StatusBadRequest)
			return
		}
		if err != nil || err1 != nil || err2 != nil || n < 0 {
			http.Error(w, "n must be a count; retry_after and delay Go durations", http.StatusBadRequest)
			return
		}
		s.FailNextTokenRequests(n, f)
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /admin/revoke-all", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		s.RevokeAll()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /admin/mcp-outage", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		mode := OutageMode(r.FormValue("mode"))
		if mode == "none" {
			mode = OutageNone
		}
		d, err := optionalDuration(r.FormValue("for"))
		if err != nil || (mode != OutageNone && mode != Outage503 && mode != OutageDrop) {
			http.Error(w, "mode must be 503, drop or none; for a Go duration", http.StatusBadRequest)
			return
		}
		s.SetMCPOutage(mode, d)
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /admin/reset", s.loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	}))
}

// loopbackOnly refuses admin requests from other hosts, unless
// Options.AdminAnyHost: the admin API hands out every secret and needs no
// credentials.
func (s *Server) loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminAnyHost {
			h(w, r)
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "admin endpoints answer loopback clients only", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func optionalDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	return time.ParseDuration(v)
}
