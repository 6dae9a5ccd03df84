package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileMatchesManifests checks, without Docker, that the image is what the chart and
// config/manager expect: /manager, user 65532, the token store volume, static binaries.
func TestDockerfileMatchesManifests(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ENV CGO_ENABLED=0\b`),
		regexp.MustCompile(`--mount=type=cache,target=/go/pkg/mod`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot$`),
		regexp.MustCompile(`(?m)^COPY --from=build /out/manager /manager$`),
		regexp.MustCompile(`(?m)^COPY --from=build /out/mcpproxy /usr/local/bin/mcpproxy$`),
		regexp.MustCompile(`(?m)^VOLUME /var/lib/mcpproxy$`),
		regexp.MustCompile(`(?m)^USER 65532(:65532)?$`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/manager"\]$`),
	} {
		if !want.MatchString(df) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}

	// The build context must keep what the build needs.
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "api", "controllers", "internal"} {
			if line == needed || line == needed+"/" || line == "*" {
				t.Errorf(".dockerignore excludes %s, which the image build needs", needed)
			}
		}
	}

	// The manifests run the binary where the image puts it.
	objs := render(t, valuesCases[0])
	_, c := manager(t, objs)
	if len(c.Command) != 1 || c.Command[0] != "/manager" {
		t.Errorf("the chart runs %q, the image has /manager", c.Command)
	}
	_, kc := manager(t, kustomizeDefault(t))
	if len(kc.Command) != 1 || kc.Command[0] != "/manager" {
		t.Errorf("config/manager runs %q, the image has /manager", kc.Command)
	}
}
