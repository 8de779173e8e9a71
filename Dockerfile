# Multi-stage build of the single nurture binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# timetzdata embeds the zone database: recipients' time zones must resolve
# whatever the base image ships.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/nurture ./cmd/nurture

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nurture /usr/local/bin/nurture
COPY examples/*.yaml /etc/nurture/cadences/
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nurture"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
