# syntax=docker/dockerfile:1
# The operator image: one static binary (controller, webhook, certcontroller subcommands) on distroless/static,
# running as uid 65532. Build: `docker build -t ghcr.io/external-secrets-rs/external-secrets:dev .`
# (see docs/image.md).

# musl: a fully static binary whose DNS resolution needs no NSS modules at runtime (a static glibc binary's
# getaddrinfo would). Alpine's Rust targets musl and links statically by default.
FROM docker.io/library/rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev gcc file
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p external-secrets --bin external-secrets \
 && cp target/release/external-secrets /external-secrets \
 && file /external-secrets | tee /dev/stderr | grep -Eq 'static(-pie)? linked|statically linked' \
 && /external-secrets --version

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), tzdata; no shell, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /external-secrets /usr/local/bin/external-secrets
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/external-secrets"]
CMD ["controller"]
