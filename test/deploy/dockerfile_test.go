package deploy

import (
	"fmt"
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
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot@sha256:[0-9a-f]{64}$`),
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

	checkPinnedBases(t, df)

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

// pinnedImage is a registry image by tag and digest: the tag for the reader, the digest decides.
var pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*@sha256:[0-9a-f]{64}$`)

// checkPinnedBases fails the test for every base image unpinnedBases reports.
func checkPinnedBases(t *testing.T, df string) {
	t.Helper()
	for _, p := range unpinnedBases(df) {
		t.Error(p)
	}
}

// unpinnedBases reports every FROM that names a registry image without pinning it by digest
// (image:tag@sha256: and 64 hex digits), so a rebuild of a commit gets the bases it was tested
// with. Earlier stages of the same file and scratch are not images; a build argument in the
// reference could undo the pin.
func unpinnedBases(df string) []string {
	stages := map[string]bool{"scratch": true}
	var problems []string
	froms := 0
	for _, line := range strings.Split(df, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		froms++
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") { // --platform=...
			args = args[1:]
		}
		if len(args) == 0 {
			problems = append(problems, fmt.Sprintf("FROM without an image: %q", line))
			continue
		}
		image := args[0]
		switch {
		case stages[strings.ToLower(image)]:
		case strings.Contains(image, "$"):
			problems = append(problems, fmt.Sprintf("FROM %s: a build argument in the image reference can replace the pinned digest", image))
		case !pinnedImage.MatchString(image):
			problems = append(problems, fmt.Sprintf("FROM %s is not pinned: write image:tag@sha256:<64 hex> (see the Dockerfile's comment on updating)", image))
		}
		if len(args) >= 3 && strings.EqualFold(args[1], "AS") { // later FROMs may name this stage
			stages[strings.ToLower(args[2])] = true
		}
	}
	if froms < 2 {
		problems = append(problems, fmt.Sprintf("found %d FROM lines, want the build and the runtime stage", froms))
	}
	return problems
}

// TestUnpinnedBasesAreReported: the pin check refuses a bare tag, a digest without a tag, a short
// digest and a build argument, and accepts stage references.
func TestUnpinnedBasesAreReported(t *testing.T) {
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	good := "FROM --platform=$BUILDPLATFORM golang:1.26-bookworm" + digest + " AS build\nFROM build AS test\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n"
	if p := unpinnedBases(good); len(p) != 0 {
		t.Errorf("pinned bases reported: %v", p)
	}
	for name, df := range map[string]string{
		"tag only":    "FROM golang:1.26-bookworm AS build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
		"no tag":      "FROM golang" + digest + " AS build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
		"short":       "FROM golang:1.26@sha256:0123abcd AS build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
		"build arg":   "ARG BASE=golang:1.26" + digest + "\nFROM ${BASE} AS build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
		"lower-case":  "from golang:1.26 as build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
		"stage later": "FROM build AS build\nFROM gcr.io/distroless/static-debian12:nonroot" + digest + "\n",
	} {
		if p := unpinnedBases(df); len(p) != 1 {
			t.Errorf("%s: reported %v, want one problem", name, p)
		}
	}
}
