// Package cadence is Nurture's pure domain: cadence definitions loaded from
// YAML, their validation, schedule maths (delays, business days, send windows,
// holidays, SMS quiet hours, time-zone inference), the enrollment state
// machine, the send-time gate and the dry-run simulator.
//
// It imports only the standard library, a YAML parser, the phone-number
// library and the templates package. It must not import Redis, asynq or any
// transport, and it never reads the wall clock: every function that depends
// on time takes "now" as an argument, so every rule is a table test.
package cadence
