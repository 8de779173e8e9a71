package worker

// A touch's message: its rendering (templates, tracking links, size caps)
// and its deterministic, signed Message-ID, which names the enrollment a
// reply or a bounce is about.

import (
	"context"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/tracking"
)

// MessageID is the deterministic Message-ID of a touch send: the
// enrollment, touch and generation, signed, so replies can be matched
// without an index that would grow with every email sent.
func (e *Engine) MessageID(eid, touch string, gen int64) string {
	return "<" + e.cfg.Tokens.Sign("m", eid+"|"+touch+"|"+strconv.FormatInt(gen, 36)) + "@" + e.cfg.MessageIDDomain + ">"
}

// MessageOwner reads the enrollment and touch back from one of our
// Message-IDs (a reply's In-Reply-To or References). The local part is
// signed, so a forged reference names nobody; ids from before signed
// Message-IDs are looked up in the index that used to hold them.
func (e *Engine) MessageOwner(ctx context.Context, messageID string) (eid, touch string, err error) {
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	if at := strings.LastIndexByte(id, '@'); at > 0 {
		if payload, verr := e.cfg.Tokens.Verify("m", id[:at]); verr == nil {
			if eid, rest, ok := strings.Cut(payload, "|"); ok {
				touch, _, _ = strings.Cut(rest, "|")
				return eid, touch, nil
			}
		}
	}
	return e.st.MessageOwner(ctx, id)
}

// render builds the message for a claimed send; a template missing data
// returns a *templates.HoldError, a message over a size cap (limits.go) a
// *LimitError: either holds the touch.
func (e *Engine) render(it *item) error {
	l := &it.loaded.Enrollment
	t := it.dec.Touch
	tmpl := it.c.Templates[it.dec.Variant.Template]
	data := it.prospect.TemplateData()
	data.Cadence, data.Stage, data.PostalAddress = it.c.Name, l.Stage, it.c.PostalAddress
	data.UnsubscribeURL = e.cfg.PublicURL + "/u/" + e.cfg.Tokens.Sign("u", l.ID)
	key := strings.Trim(e.MessageID(l.ID, t.ID, l.Generation), "<>")
	if t.Channel == cadence.SMS {
		m, err := tmpl.RenderSMS(data)
		if err != nil {
			return renderLimit(err, false, it.prospect)
		}
		if err := checkSMS(&m); err != nil {
			return err
		}
		it.sms = &channels.SMS{Key: key, To: it.prospect.Phone, From: it.c.From.SMS, MessagingService: it.c.From.MessagingService,
			Body: m.Body, StatusCallback: e.cfg.PublicURL + "/webhooks/twilio/status/" + e.cfg.Tokens.Sign("s", l.ID+"|"+t.ID)}
		return nil
	}
	m, err := tmpl.RenderEmail(data)
	if err != nil {
		return renderLimit(err, true, it.prospect)
	}
	if m.HTML != "" {
		// The template's own links go through the click endpoint (links
		// from prospect data are left alone) and the pixel is added; the
		// token carries the send time to tell machine opens from people.
		m.HTML = e.linker.Rewrite(m.HTML, tracking.Ref{EID: l.ID, Touch: t.ID, SentAt: e.cfg.Clock()}, data.UnsubscribeURL, tmpl.LinkOrigins())
	}
	inReplyTo := ""
	if t.Thread {
		inReplyTo = l.PrevMessageID
	}
	replyTo := it.c.From.ReplyTo
	if it.mailbox != nil {
		replyTo = "" // replies go to the mailbox: the rep's own inbox
	}
	email := &channels.Email{MessageID: "<" + key + ">", InReplyTo: inReplyTo, From: it.fromAddress(), ReplyTo: replyTo, To: it.prospect.Email,
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, Unsubscribe: data.UnsubscribeURL,
		Headers: map[string]string{"X-Nurture-Touch": it.c.ID + "/" + t.ID + "/" + it.dec.Variant.ID}}
	if err := checkEmail(email); err != nil {
		return err
	}
	it.email = email
	return nil
}
