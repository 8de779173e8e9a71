// Package templates compiles and renders Nurture's message templates: email
// subject, plain text and HTML (auto-escaped by html/template) and SMS
// bodies, personalized from prospect fields and custom attributes.
//
// Templates are compiled once. A field an output depends on that is empty
// and has no fallback (`{{ .FirstName | default "there" }}`) makes Render
// return a *HoldError instead of sending a blank. The package also counts
// SMS segments the way carriers and Twilio do (GSM-7 with its extension
// table, or UCS-2).
//
// It imports only the standard library: no Redis, no asynq, no clock.
package templates
