package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// shownMessages are the controller log messages the demo prints: the story of a token.
var shownMessages = map[string]bool{
	"Starting manager":            true,
	"Ingested a login hand-over":  true,
	"Rejected a login hand-over":  true,
	"Refreshed token":             true,
	"Refresh failed; backing off": true,
	"Refresh token rejected":      true,
	"Discovery failed":            true,
	"Connected":                   true,
	"Connection failed":           true,
	"Logged out":                  true,
}

// hiddenKeys are log fields that say nothing a demo watcher needs.
var hiddenKeys = map[string]bool{
	"level": true, "ts": true, "msg": true, "logger": true, "caller": true, "controller": true,
	"controllerGroup": true, "controllerKind": true, "reconcileID": true, "UpstreamServer": true,
	"stacktrace": true, "upstreamServer": true,
}

// managerLogFilter turns the manager's JSON log into short terminal lines. The controller and
// the OAuth client both log some events (e.g. "Refreshed token") for one correlation ID; only
// the first of such a pair is shown.
type managerLogFilter struct {
	verbose bool
	lastKey string
}

// line returns what to print for one log line, or "".
func (f *managerLogFilter) line(line string) string {
	s := formatManagerLine(line, f.verbose)
	if s == "" || f.verbose {
		return s
	}
	var rec struct {
		Msg           string `json:"msg"`
		CorrelationID string `json:"correlationID"`
	}
	if json.Unmarshal([]byte(line), &rec) == nil && rec.CorrelationID != "" {
		key := rec.Msg + "\x00" + rec.CorrelationID
		if key == f.lastKey {
			return ""
		}
		f.lastKey = key
	}
	return s
}

// formatManagerLine turns one line of the manager's JSON log into a short line for the
// terminal, or "" when it is not worth showing. Errors are always shown; everything is with
// verbose.
func formatManagerLine(line string, verbose bool) string {
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		if verbose {
			return line
		}
		return ""
	}
	msg, _ := rec["msg"].(string)
	level, _ := rec["level"].(string)
	if !verbose && !shownMessages[msg] && level != "error" {
		return ""
	}
	var b strings.Builder
	if level == "error" {
		b.WriteString("ERROR ")
	}
	b.WriteString(msg)
	if ns, name := rec["namespace"], rec["name"]; ns != nil && name != nil {
		fmt.Fprintf(&b, " %v/%v", ns, name)
	}
	keys := make([]string, 0, len(rec))
	for k := range rec {
		if !hiddenKeys[k] && k != "namespace" && k != "name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, rec[k])
	}
	return b.String()
}
