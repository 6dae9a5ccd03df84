package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxToolNameLength is the longest tool name MCP clients are asked to accept.
const MaxToolNameLength = 128

// ToolName is the name a tool of an upstream server carries on the aggregated /mcp endpoint:
// <namespace>.<server>.<tool>. Characters outside [A-Za-z0-9_.-] become '_'; a name longer
// than 128 characters is cut to 119 and suffixed with '-' and 8 hex digits of a hash of the
// three parts, as is a name that would collide with another tool's. Calls are routed by a
// table of the names handed out, never by splitting a name, so dots in server or tool names
// are harmless.
func ToolName(namespace, server, tool string) string {
	name := sanitizeToolName(namespace) + "." + sanitizeToolName(server) + "." + sanitizeToolName(tool)
	if len(name) <= MaxToolNameLength {
		return name
	}
	return hashedToolName(namespace, server, tool)
}

// hashedToolName is the collision- and length-proof form of ToolName.
func hashedToolName(namespace, server, tool string) string {
	name := sanitizeToolName(namespace) + "." + sanitizeToolName(server) + "." + sanitizeToolName(tool)
	sum := sha256.Sum256([]byte(namespace + "\x00" + server + "\x00" + tool))
	if len(name) > MaxToolNameLength-9 {
		name = name[:MaxToolNameLength-9]
	}
	return name + "-" + hex.EncodeToString(sum[:4])
}

func sanitizeToolName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}
