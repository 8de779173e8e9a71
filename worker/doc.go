// Package worker is Nurture's runtime on asynq and Redis. Engine is the Go
// API the server and CLI build on (enroll, events, pause/resume/snooze/stop,
// timelines, stats). The dispatcher claims due enrollments from the
// sharded due sets and enqueues immediate asynq tasks; the send handler
// re-checks every claimed touch through the send-time gate, renders it,
// sends it through a channel and commits the outcome with the next due
// time.
//
// Sends are effectively-once: a ledger entry per (enrollment, stage, step,
// generation) goes "sending" (with a lease) before the provider call and
// "sent" in the same commit that advances the enrollment. A retry that
// finds "sent" does nothing; one that finds an expired "sending" cannot know
// whether the provider got the message and, by policy, does not resend: the
// touch is marked "uncertain" on the timeline.
package worker
