package dashboard

import "time"

// SetSessionClock sets the clock sessions expire by; call it before d
// serves a request.
func SetSessionClock(d *Dashboard, now func() time.Time) { d.now = now }

// SessionLifetime is how long a session lasts from login.
const SessionLifetime = sessionLifetime
