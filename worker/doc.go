// Package worker is Nurture's runtime on asynq and Redis. Engine is the Go
// API the server and CLI build on (enroll, events, pause/resume/snooze/stop,
// timelines, stats). The dispatcher claims due enrollments from the
// sharded due sets and enqueues immediate asynq tasks; the send handler
// re-checks every claimed touch through the send-time gate, renders it,
// sends it through a channel and commits the outcome with the next due
// time.
//
// Sends are effectively-once: a ledger entry per (enrollment, stage, step,
// generation) goes "sending" (with a lease) just before the provider call
// and "sent" as soon as the provider accepts (the journal in send.go; per
// task instead with JournalBatch), and the commit that advances the
// enrollment records "sent" again. A retry that finds "sent" commits the
// send without repeating it; one that finds an expired "sending" cannot
// know whether the provider got the message and, by policy, does not
// resend: the touch is marked "uncertain" on the timeline.
package worker
