// Package logging wraps the zap logger so no secret reaches a log line: every message, error
// and string field passes through the OAuth redaction helper before it is written.
package logging

import (
	"fmt"

	"go.uber.org/zap/zapcore"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// Redacting wraps a zap core so messages, errors and string fields are redacted.
func Redacting(c zapcore.Core) zapcore.Core { return redactingCore{c} }

type redactingCore struct{ zapcore.Core }

func (c redactingCore) With(fields []zapcore.Field) zapcore.Core {
	return redactingCore{c.Core.With(redactFields(fields))}
}

func (c redactingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c redactingCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = oauth.Redact(e.Message)
	return c.Core.Write(e, redactFields(fields))
}

func redactFields(fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fields))
	for i, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			f.String = oauth.Redact(f.String)
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok && err != nil {
				f = zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: oauth.Redact(err.Error())}
			}
		case zapcore.StringerType:
			if s, ok := f.Interface.(fmt.Stringer); ok && s != nil {
				f = zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: oauth.Redact(safeString(s))}
			}
		case zapcore.ReflectType:
			f = zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: oauth.Redact(fmt.Sprintf("%+v", f.Interface))}
		}
		out[i] = f
	}
	return out
}

func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = "<unprintable>"
		}
	}()
	return s.String()
}
