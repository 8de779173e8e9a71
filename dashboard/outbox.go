package dashboard

import (
	"net/http"

	"github.com/nurture-dev/nurture/channels"
)

// outbox shows the newest messages the development outbox holds.
func (d *Dashboard) outbox(w http.ResponseWriter, r *http.Request, s *Session) {
	if d.cfg.Outbox == nil {
		http.NotFound(w, r)
		return
	}
	msgs := d.cfg.Outbox.Messages()
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	if len(msgs) > 200 {
		msgs = msgs[:200]
	}
	p := d.page(r, s, "Outbox")
	p.Nav = "outbox"
	d.render(w, r, http.StatusOK, "outbox", struct {
		page
		Messages []channels.OutboxMessage
	}{p, msgs})
}
