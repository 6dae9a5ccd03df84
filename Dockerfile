# syntax=docker/dockerfile:1
# The mcpproxy-operator image: the manager at /manager and the mcpproxy CLI on the PATH, static
# binaries on distroless, running as the nonroot user (65532) with the token store on a volume.
#   make docker-build IMG=mcpproxy-operator:dev

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
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

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
COPY --from=build /out/mcpproxy /usr/local/bin/mcpproxy
COPY --from=build --chown=65532:65532 --chmod=0700 /out/var/lib/mcpproxy /var/lib/mcpproxy
# bbolt token store (single writer: run one manager per volume).
VOLUME /var/lib/mcpproxy
USER 65532:65532
ENTRYPOINT ["/manager"]
CMD ["--token-store=/var/lib/mcpproxy/tokens.db"]
