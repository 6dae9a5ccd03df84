# syntax=docker/dockerfile:1
# The mcpproxy-operator image: the manager at /manager and the mcpproxy CLI on the PATH, static
# binaries on distroless, running as the nonroot user (65532) with the token store on a volume.
#   make docker-build IMG=mcpproxy-operator:dev

# Base images are pinned by digest (of the multi-platform index), the tag kept for the reader: a
# rebuild of a commit uses the same bases, and a moved tag changes nothing until the pin does.
# To update, resolve each tag and replace its digest:
#   docker buildx imagetools inspect golang:1.26-bookworm --format '{{.Manifest.Digest}}'
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot --format '{{.Manifest.Digest}}'
# (or `crane digest IMAGE`; Renovate's dockerfile manager and Dependabot's docker ecosystem
# update such image:tag@sha256 pins on their own). test/deploy checks every FROM is pinned.
# golang:1.26-bookworm, Go 1.26.9: the tag's digest as public Dockerfiles pinned it on 2026-10-09.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm@sha256:d9c68c2c51161e12fd77e4c6320687c9cd86e1af1e3ad6e6cd63ff970641453c AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ENV CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH}
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/manager ./cmd/manager && \
    go build -trimpath -ldflags='-s -w' -o /out/mcpproxy ./cmd/mcpproxy
# The token store directory, owned by the nonroot user so an empty volume starts writable.
RUN mkdir -p /out/var/lib/mcpproxy

# gcr.io/distroless/static-debian12:nonroot: the tag's digest from 2026-08-26 to at least 2026-10-09.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/manager /manager
COPY --from=build /out/mcpproxy /usr/local/bin/mcpproxy
COPY --from=build --chown=65532:65532 --chmod=0700 /out/var/lib/mcpproxy /var/lib/mcpproxy
# bbolt token store (single writer: run one manager per volume).
VOLUME /var/lib/mcpproxy
USER 65532:65532
ENTRYPOINT ["/manager"]
CMD ["--token-store=/var/lib/mcpproxy/tokens.db"]
