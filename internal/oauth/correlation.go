package oauth

import (
	"context"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
)

type correlationKey struct{}

// NewCorrelationID returns a fresh correlation ID (a random UUID).
func NewCorrelationID() string { return uuid.NewString() }

// WithCorrelationID returns ctx carrying id; every log line of a flow started with it carries it.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation ID carried by ctx, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// ensureCorrelationID returns ctx with a correlation ID, adding a new one when absent.
func ensureCorrelationID(ctx context.Context) (context.Context, string) {
	if id := CorrelationID(ctx); id != "" {
		return ctx, id
	}
	id := NewCorrelationID()
	return WithCorrelationID(ctx, id), id
}

// flowLogger returns l tagged with the context's correlation ID.
func flowLogger(ctx context.Context, l logr.Logger) logr.Logger {
	if id := CorrelationID(ctx); id != "" {
		return l.WithValues("correlationID", id)
	}
	return l
}
