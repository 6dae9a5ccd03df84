package mcpconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ListTools runs tools/list, page by page, and records the count (Info), and the tools
// themselves when the session keeps them (Options.OnToolsChanged, KeepTools). The tools,
// pages and, for kept tools, each tool's size are bounded (Limits): crossing a bound closes
// the session and returns a *LimitError. A 401 or 403 is a *ChallengeError.
func (s *Session) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	mark := s.bt.mark()
	var tools []*mcp.Tool
	n, kept := 0, 0
	params := &mcp.ListToolsParams{}
	for page := 1; ; page++ {
		if page > s.limits.MaxToolPages {
			return nil, s.overLimit(&LimitError{Limit: LimitToolPages, Max: int64(s.limits.MaxToolPages)})
		}
		res, err := s.cs.ListTools(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("listing tools of %s: %w", s.target.URL, s.callError(mark, "tools/list", err))
		}
		for _, t := range res.Tools {
			if n++; n > s.limits.MaxTools {
				return nil, s.overLimit(&LimitError{Limit: LimitTools, Max: int64(s.limits.MaxTools)})
			}
			if !s.keepTools {
				continue
			}
			// Only kept tools are measured: a count costs nothing per tool, and the answer
			// holding them is bounded already (MaxResponseBytes).
			b, err := json.Marshal(t)
			if err != nil || len(b) > s.limits.MaxToolBytes {
				return nil, s.overLimit(&LimitError{Limit: LimitToolSize, Max: int64(s.limits.MaxToolBytes)})
			}
			if kept += len(b); kept > s.limits.MaxToolsBytes {
				return nil, s.overLimit(&LimitError{Limit: LimitToolsSize, Max: int64(s.limits.MaxToolsBytes)})
			}
			tools = append(tools, t)
		}
		if res.NextCursor == "" {
			break
		}
		params = &mcp.ListToolsParams{Cursor: res.NextCursor}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.Tools, s.tools = n, tools
	return tools, nil
}

// Tools are the tools of the last tools/list, when the session keeps them.
func (s *Session) Tools() []*mcp.Tool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tools
}

// Exceeded is the bound an answer of the session crossed, or nil. Such a session is closed.
func (s *Session) Exceeded() *LimitError { return s.exceeded.Load() }

// exceed records the first bound crossed and tears the session down: its streams end, and
// its owner hears of it (Notify) so it can say which bound and dial again when it decides to.
func (s *Session) exceed(e *LimitError) {
	if !s.exceeded.CompareAndSwap(nil, e) {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.notify != nil {
		go s.notify()
	}
}

// overLimit crosses e, from the session's own reading of an answer, and returns the error
// the call reports.
func (s *Session) overLimit(e *LimitError) error {
	s.exceed(e)
	return fmt.Errorf("listing tools of %s: %w", s.target.URL, s.exceeded.Load())
}

// callError is what a call that began at mark and failed with err reports: the bound the
// session crossed, else a refusal (401, 403) it met, as a *ChallengeError with the server's
// WWW-Authenticate header, else err. With a nil err it returns nil unless one of those.
func (s *Session) callError(mark uint64, method string, err error) error {
	if e := s.exceeded.Load(); e != nil {
		return e
	}
	if ce := s.bt.refusedSince(mark, method); ce != nil {
		return ce
	}
	if err != nil && s.unauthorized.Load() {
		return &ChallengeError{Method: method, Status: 401}
	}
	if err == nil {
		return nil
	}
	var le *LimitError
	if errors.As(err, &le) {
		return le
	}
	return err
}

// sdkEventSize is the SDK's own bound on one event: above ours, so ours (which names the
// bound) is met first; it stays as a second line of defence.
func (s *Session) sdkEventSize() int {
	return int(2 * s.limits.MaxEventBytes)
}
