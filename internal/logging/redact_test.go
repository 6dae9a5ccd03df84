package logging

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

type stringer string

func (s stringer) String() string { return string(s) }

func TestRedactingCoreHidesSecrets(t *testing.T) {
	const secret = "rt-0123456789abcdef0123456789"
	oauth.RegisterSecret(secret)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(Redacting(core)).With(zap.String("with", "Bearer "+secret))
	cases := []func(){
		func() { log.Info("refreshing with " + secret) },
		func() { log.Info("m", zap.String("token", secret)) },
		func() { log.Info("m", zap.Error(errors.New("token endpoint said: "+secret))) },
		func() { log.Info("m", zap.Stringer("s", stringer(secret))) },
		func() { log.Info("m", zap.Any("a", map[string]string{"refresh_token": secret})) },
		func() { log.Info("m", zap.String("url", "https://cb/?code="+secret+"&state=x")) },
	}
	for _, c := range cases {
		c()
	}
	if logs.Len() != len(cases) {
		t.Fatalf("want %d lines, got %d", len(cases), logs.Len())
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, secret) {
			t.Fatalf("secret reached a log line: %s", line)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "\t", " "))
}
