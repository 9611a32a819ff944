# One image for the manager and the crawler Jobs (they run `crawl`).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/confluence-operator .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/confluence-operator /confluence-operator
USER 65532:65532
ENTRYPOINT ["/confluence-operator"]
CMD ["manager"]
