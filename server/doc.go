// Package server is Nurture's HTTP surface: the versioned JSON API for
// marketers, sales and integrations (/v1, bearer tokens with admin and
// sales roles), the tracking endpoints (open pixel, click redirect,
// RFC 8058 one-click unsubscribe), and the inbound webhooks (Twilio SMS and
// status callbacks, raw inbound email with replies, auto-replies and DSN
// bounces). Every event goes through worker.Engine, so it is validated and
// applied by the same state machine as everything else.
package server
