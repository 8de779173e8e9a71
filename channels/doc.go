// Package channels delivers rendered messages: email over SMTP with
// go-mail (a pool of reused connections), SMS through Twilio (twilio-go's
// client and api/v2010 packages only), and a dev outbox that keeps what
// would have been sent where a developer can read it.
//
// Every adapter classifies failures into a Class the worker acts on (hard
// bounce, retry later, opt-out, halt the channel); none decides what a
// failure means for an enrollment. It knows nothing of Redis or asynq.
package channels
