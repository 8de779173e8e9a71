package channels_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/channels"
)

type toServer struct{ u *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.u.Scheme, t.u.Host
	return http.DefaultTransport.RoundTrip(r)
}

func twilioWith(t *testing.T, h http.HandlerFunc) *channels.Twilio {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	tw, err := channels.NewTwilio(channels.TwilioConfig{AccountSID: "AC1", AuthToken: "tok", Transport: toServer{u}})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func TestTwilioClassifiesErrorCodes(t *testing.T) {
	cases := map[int]struct {
		status int
		class  channels.Class
	}{
		21610: {400, channels.OptedOut},
		21211: {400, channels.Permanent},
		21614: {400, channels.Permanent},
		20003: {401, channels.Halt},
		21606: {400, channels.Halt},
		21608: {400, channels.Halt},
		30034: {400, channels.Halt},
		20429: {429, channels.Retry},
		20500: {500, channels.Retry},
	}
	for code, tc := range cases {
		tw := twilioWith(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			json.NewEncoder(w).Encode(map[string]any{"code": code, "message": "x", "status": tc.status})
		})
		_, err := tw.SendSMS(context.Background(), &channels.SMS{To: "+13125550100", From: "+15005550006", Body: "hi"})
		if got := channels.ClassOf(err); got != tc.class {
			t.Errorf("code %d: class %q (%v), want %q", code, got, err, tc.class)
		}
	}
}

func TestTwilioSendsFormAndHonoursContext(t *testing.T) {
	var form url.Values
	tw := twilioWith(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		form = r.PostForm
		if r.PostForm.Get("To") == "+13125550199" {
			<-r.Context().Done() // hang until the caller gives up
			return
		}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"sid": "SM1", "status": "queued"})
	})
	sid, err := tw.SendSMS(context.Background(), &channels.SMS{To: "+13125550100", MessagingService: "MG1", Body: "hi", StatusCallback: "https://n.example/s"})
	if err != nil || sid != "SM1" {
		t.Fatalf("%s %v", sid, err)
	}
	if form.Get("MessagingServiceSid") != "MG1" || form.Get("StatusCallback") != "https://n.example/s" || form.Get("From") != "" {
		t.Fatalf("form %v", form)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = tw.SendSMS(ctx, &channels.SMS{To: "+13125550199", From: "+15005550006", Body: "hi"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("context not carried: %v after %v", err, time.Since(start))
	}
}
