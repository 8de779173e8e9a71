# Multi-stage build of the single nurture binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# timetzdata embeds the zone database: recipients' time zones must resolve
# whatever the base image ships.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/nurture ./cmd/nurture
# State directories owned by the runtime user: named volumes mounted there
# start with this ownership (the runtime image has no shell to chown).
RUN mkdir -p /out/state/outbox /out/state/spool

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nurture /usr/local/bin/nurture
COPY --from=build --chown=nonroot:nonroot /out/state /var/lib/nurture
COPY examples/*.yaml /etc/nurture/cadences/
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nurture"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
