package tracking_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/tracking"
)

// The rules are pure functions of (method, User-Agent, sentAt, at); these
// tests pin them at their edges. server/tracking_rules_test.go drives the
// same rules through the pixel and click handlers at ±100 ms around the
// thresholds; here they are checked to the millisecond and at the odd
// inputs a handler test cannot easily produce.

const (
	browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	iphoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	outlookUA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)"
)

var sentAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// TestMachineOpenTimeBoundary: an open is a machine's when it comes less
// than 5 s after the send (strictly: at.Sub(sentAt) < 5s). Exactly 5 s
// after is a person's; 1 ms before that is a machine's.
func TestMachineOpenTimeBoundary(t *testing.T) {
	for _, c := range []struct {
		after   time.Duration
		machine bool
	}{
		{0, true},
		{time.Millisecond, true},
		{2 * time.Second, true},
		{5*time.Second - time.Millisecond, true},
		{5*time.Second - time.Nanosecond, true},
		{5 * time.Second, false}, // the boundary itself belongs to people
		{5*time.Second + time.Millisecond, false},
		{time.Minute, false},
		{30 * 24 * time.Hour, false},
	} {
		if got := tracking.MachineOpen(browserUA, sentAt, sentAt.Add(c.after)); got != c.machine {
			t.Errorf("open %v after the send from a browser: machine = %v, want %v", c.after, got, c.machine)
		}
	}
}

// TestMachineOpenClockSkew: an open stamped before its send (the server's
// clock behind the worker's that stamped the token) has a negative age,
// which is under 5 s, so it is a machine open — recorded, never advancing
// anyone. That holds however large the skew: an open "an hour before the
// send" is not trusted as a person either.
func TestMachineOpenClockSkew(t *testing.T) {
	for _, before := range []time.Duration{time.Millisecond, time.Second, 5 * time.Second, time.Hour} {
		if !tracking.MachineOpen(browserUA, sentAt, sentAt.Add(-before)) {
			t.Errorf("open %v before the send from a browser counted as a person", before)
		}
	}
}

// TestMachineOpenZeroSentAt: a zero sentAt (a token that carried no send
// time) leaves no timing rule to apply — at.Sub(zero) saturates at the
// largest Duration — so only the User-Agent decides.
func TestMachineOpenZeroSentAt(t *testing.T) {
	var zero time.Time
	if tracking.MachineOpen(browserUA, zero, sentAt) {
		t.Error("browser open with a zero send time counted as a machine's")
	}
	if !tracking.MachineOpen("Mozilla/5.0", zero, sentAt) {
		t.Error("Apple proxy open with a zero send time counted as a person's")
	}
	// zero at as well: the age is 0, under 5 s.
	if !tracking.MachineOpen(browserUA, zero, zero) {
		t.Error("open at the zero time of a zero send time counted as a person's")
	}
}

// TestMachineOpenUserAgent: Apple Mail Privacy Protection fetches with the
// bare User-Agent "Mozilla/5.0" (surrounding space trimmed), a machine
// however late. Anything longer — a real browser or mail client, which
// also starts with Mozilla/5.0 — is a person once past 5 s. The match is
// exact and case-sensitive; an empty User-Agent is not the proxy's (the
// open rule has no empty-UA clause, unlike the click rule).
func TestMachineOpenUserAgent(t *testing.T) {
	late := sentAt.Add(time.Hour)
	for _, c := range []struct {
		ua      string
		machine bool
	}{
		{"Mozilla/5.0", true},
		{" Mozilla/5.0 ", true},
		{"\tMozilla/5.0\r\n", true},
		{"Mozilla/5.0 (iPhone)", false},
		{browserUA, false},
		{firefoxUA, false},
		{iphoneUA, false},
		{outlookUA, false},
		{"mozilla/5.0", false},
		{"Mozilla/5.1", false},
		{"Mozilla/5.0/", false},
		{"", false},
	} {
		if got := tracking.MachineOpen(c.ua, sentAt, late); got != c.machine {
			t.Errorf("open an hour after the send by %q: machine = %v, want %v", c.ua, got, c.machine)
		}
	}
	// The proxy is a machine at any age, including exactly on and past the boundary.
	for _, after := range []time.Duration{5 * time.Second, 5*time.Second + time.Millisecond} {
		if !tracking.MachineOpen("Mozilla/5.0", sentAt, sentAt.Add(after)) {
			t.Errorf("Apple proxy open %v after the send counted as a person's", after)
		}
	}
}

// TestScannerClickTimeBoundary: a click less than 2 s after the send
// (at.Sub(sentAt) < 2s) is a scanner's; exactly 2 s after is a person's.
func TestScannerClickTimeBoundary(t *testing.T) {
	for _, c := range []struct {
		after   time.Duration
		scanner bool
	}{
		{0, true},
		{time.Millisecond, true},
		{time.Second, true},
		{2*time.Second - time.Millisecond, true},
		{2*time.Second - time.Nanosecond, true},
		{2 * time.Second, false}, // the boundary itself belongs to people
		{2*time.Second + time.Millisecond, false},
		{3 * time.Second, false}, // a click is not held to the open's 5 s
		{time.Hour, false},
	} {
		if got := tracking.ScannerClick("GET", browserUA, sentAt, sentAt.Add(c.after)); got != c.scanner {
			t.Errorf("GET %v after the send from a browser: scanner = %v, want %v", c.after, got, c.scanner)
		}
	}
}

// TestScannerClickClockSkew: a click stamped before its send has a
// negative age, under 2 s: a scanner's, whatever the skew.
func TestScannerClickClockSkew(t *testing.T) {
	for _, before := range []time.Duration{time.Millisecond, 2 * time.Second, time.Hour} {
		if !tracking.ScannerClick("GET", browserUA, sentAt, sentAt.Add(-before)) {
			t.Errorf("click %v before the send from a browser counted as a person's", before)
		}
	}
}

// TestScannerClickZeroSentAt: with a zero sentAt the timing rule never
// fires; method and User-Agent still do.
func TestScannerClickZeroSentAt(t *testing.T) {
	var zero time.Time
	if tracking.ScannerClick("GET", browserUA, zero, sentAt) {
		t.Error("browser GET with a zero send time counted as a scanner's")
	}
	if !tracking.ScannerClick("HEAD", browserUA, zero, sentAt) {
		t.Error("HEAD with a zero send time counted as a person's")
	}
	if !tracking.ScannerClick("GET", "", zero, sentAt) {
		t.Error("GET without a User-Agent and a zero send time counted as a person's")
	}
}

// TestScannerClickMethodAndEmptyUA: HEAD is a scanner's at any age (a
// person's browser follows a link with GET), and so is a request with no
// User-Agent at all. GET and POST from a browser late enough are people.
func TestScannerClickMethodAndEmptyUA(t *testing.T) {
	late := sentAt.Add(time.Hour)
	for _, c := range []struct {
		method, ua string
		scanner    bool
	}{
		{"HEAD", browserUA, true},
		{"HEAD", iphoneUA, true},
		{"HEAD", "", true},
		{"GET", "", true},
		{"POST", "", true},
		{"GET", "   ", true}, // whitespace only is no user agent
		{"GET", "\t", true},
		{"GET", browserUA, false},
		{"GET", firefoxUA, false},
		{"GET", iphoneUA, false},
		{"GET", outlookUA, false},
		// The bare Mozilla/5.0 is a machine *open* (Apple's proxy fetches
		// images); it is not a scanner click rule.
		{"GET", "Mozilla/5.0", false},
	} {
		if got := tracking.ScannerClick(c.method, c.ua, sentAt, late); got != c.scanner {
			t.Errorf("%s an hour after the send by %q: scanner = %v, want %v", c.method, c.ua, got, c.scanner)
		}
	}
	// HEAD is a scanner's even past the 2 s boundary.
	if !tracking.ScannerClick("HEAD", browserUA, sentAt, sentAt.Add(2*time.Second)) {
		t.Error("HEAD exactly 2 s after the send counted as a person's")
	}
}

// TestScannerClickBotUserAgents: every pattern the rule knows, in a User-
// Agent as the scanner sends it, matched case-insensitively anywhere in
// the string, an hour after the send (so only the User-Agent decides).
func TestScannerClickBotUserAgents(t *testing.T) {
	late := sentAt.Add(time.Hour)
	uas := map[string]string{
		"bot":             "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"crawler":         "Mozilla/5.0 (compatible; SemrushCrawler/1.0)",
		"spider":          "Mozilla/5.0 (compatible; Baiduspider/2.0)",
		"scanner":         "Mozilla/5.0 (compatible; LinkScanner/3.1)",
		"preview":         "Mozilla/5.0 (Windows NT 10.0) Outlook-Preview/1.0",
		"proofpoint":      "Proofpoint URL Defense Agent",
		"mimecast":        "Mimecast-URL-Protect/2.0",
		"barracuda":       "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))",
		"safelinks":       "Mozilla/5.0 (Windows NT 10.0) Microsoft SafeLinks",
		"urldefense":      "urldefense.com link checker",
		"python-requests": "python-requests/2.31.0",
		"curl":            "curl/8.5.0",
		"wget":            "Wget/1.21.4",
		"go-http-client":  "Go-http-client/1.1",
		"headless":        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36",
	}
	for pattern, ua := range uas {
		for _, v := range []string{ua, strings.ToUpper(ua), strings.ToLower(ua)} {
			if !tracking.ScannerClick("GET", v, sentAt, late) {
				t.Errorf("pattern %q: GET by %q counted as a person's click", pattern, v)
			}
		}
		// The pattern alone, as the whole User-Agent, matches too.
		if !tracking.ScannerClick("GET", pattern, sentAt, late) {
			t.Errorf("GET by the bare %q counted as a person's click", pattern)
		}
	}
}
