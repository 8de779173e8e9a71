package channels

import (
	"context"
	"errors"
	"net/http"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TwilioConfig configures the SMS channel.
type TwilioConfig struct {
	AccountSID string
	AuthToken  string
	// Transport overrides the HTTP transport (tests route it to a fake).
	Transport http.RoundTripper
	Timeout   time.Duration
}

// Twilio sends SMS through Twilio's Messages API. twilio-go takes no
// context, so each send builds a client whose transport binds the
// caller's context to the request: cancelling the send cancels the call.
type Twilio struct {
	cfg TwilioConfig
}

// NewTwilio returns a Twilio sender.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, errors.New("twilio: account SID and auth token are required")
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Twilio{cfg: cfg}, nil
}

// contextTransport attaches a context to every request it carries.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t *contextTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

func (t *Twilio) api(ctx context.Context) *twapi.ApiService {
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.cfg.AccountSID, t.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: &contextTransport{ctx: ctx, base: t.cfg.Transport},
			Timeout:   t.cfg.Timeout,
			// Twilio answers directly; never follow redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.cfg.AccountSID)
	return twapi.NewApiServiceWithClient(c)
}

// SendSMS sends one message and returns its SID.
func (t *Twilio) SendSMS(ctx context.Context, m *SMS) (string, error) {
	p := &twapi.CreateMessageParams{}
	p.SetTo(m.To).SetBody(m.Body)
	if m.MessagingService != "" {
		p.SetMessagingServiceSid(m.MessagingService)
	} else {
		p.SetFrom(m.From)
	}
	if m.StatusCallback != "" {
		p.SetStatusCallback(m.StatusCallback)
	}
	msg, err := t.api(ctx).CreateMessage(p)
	if err != nil {
		return "", classifyTwilio(err)
	}
	if msg.Sid == nil {
		return "", &Error{Class: Ambiguous, Err: errors.New("twilio accepted the request but returned no message SID")}
	}
	return *msg.Sid, nil
}

// Twilio error codes with a meaning beyond "failed".
var (
	twilioOptedOut = map[int]bool{21610: true}
	// Broken account or sender: stop sending on the channel and alert.
	twilioHalt = map[int]bool{20003: true, 20404: true, 21606: true, 21608: true, 21659: true, 30034: true, 30007: false}
	// Bad destination for this message: do not retry it.
	twilioPermanent = map[int]bool{21211: true, 21614: true, 21612: true, 21408: true, 21610: false, 30003: true, 30005: true, 30006: true}
)

func classifyTwilio(err error) error {
	var re *twclient.TwilioRestError
	if !errors.As(err, &re) {
		return &Error{Class: Transport, Err: err}
	}
	ce := &Error{Code: re.Code, Err: err}
	switch {
	case twilioOptedOut[re.Code]:
		ce.Class = OptedOut
	case twilioHalt[re.Code]:
		ce.Class = Halt
	case twilioPermanent[re.Code]:
		ce.Class = Permanent
	case re.Status == http.StatusTooManyRequests || re.Code == 20429 || re.Status >= 500:
		ce.Class = Retry
	case re.Status >= 400:
		ce.Class = Permanent
	default:
		ce.Class = Retry
	}
	return ce
}
