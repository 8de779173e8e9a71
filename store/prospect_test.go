package store_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// TestProspectLimits checks every limit Normalize enforces: the typed
// error names the field and, for sizes, the limit.
func TestProspectLimits(t *testing.T) {
	ok := func() store.Prospect { return store.Prospect{ID: "p1", Email: "p1@example.com"} }
	with := func(f func(p *store.Prospect)) store.Prospect {
		p := ok()
		f(&p)
		return p
	}
	attrs := func(n int) map[string]string {
		m := map[string]string{}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("a%d", i)] = "v"
		}
		return m
	}
	x := strings.Repeat
	cases := []struct {
		name  string
		p     store.Prospect
		field string
		limit int
		text  string // in Error()
	}{
		{"id slash", with(func(p *store.Prospect) { p.ID = "a/b" }), "id", 0, `id "a/b": '/' at byte 1 is not allowed`},
		{"id pipe", with(func(p *store.Prospect) { p.ID = "a|b" }), "id", 0, `'|' at byte 1`},
		{"id hash", with(func(p *store.Prospect) { p.ID = "a#b" }), "id", 0, `'#'`},
		{"id question", with(func(p *store.Prospect) { p.ID = "a?b" }), "id", 0, `'?'`},
		{"id percent", with(func(p *store.Prospect) { p.ID = "a%2Fb" }), "id", 0, `'%'`},
		{"id colon", with(func(p *store.Prospect) { p.ID = "x:sends" }), "id", 0, `':'`},
		{"id tilde", with(func(p *store.Prospect) { p.ID = "a~b" }), "id", 0, `'~'`},
		{"id brace", with(func(p *store.Prospect) { p.ID = "{a}" }), "id", 0, `'{'`},
		{"id inner space", with(func(p *store.Prospect) { p.ID = "a b" }), "id", 0, `' '`},
		{"id control", with(func(p *store.Prospect) { p.ID = "a\x01b" }), "id", 0, `'\x01' at byte 1`},
		{"id DEL", with(func(p *store.Prospect) { p.ID = "a\x7fb" }), "id", 0, `'\x7f'`},
		{"id non-ASCII", with(func(p *store.Prospect) { p.ID = "josé" }), "id", 0, `'é' at byte 3`},
		{"id invalid UTF-8", with(func(p *store.Prospect) { p.ID = "a\xffb" }), "id", 0, "byte 0xff"},
		{"id dot", with(func(p *store.Prospect) { p.ID = "." }), "id", 0, "must not start with a dot"},
		{"id dot dot", with(func(p *store.Prospect) { p.ID = ".." }), "id", 0, "must not start with a dot"},
		{"id empty", with(func(p *store.Prospect) { p.ID = "  " }), "id", 0, "id: required"},
		{"id long", with(func(p *store.Prospect) { p.ID = x("a", 129) }), "id", 128, "id: 129 bytes, longer than the 128-byte limit"},
		{"email long", with(func(p *store.Prospect) { p.Email = x("a", 250) + "@b.co" }), "email", 254, "email: 255 bytes, longer than the 254-byte limit"},
		{"email control", with(func(p *store.Prospect) { p.Email = "a\r\nBcc: x@y.z" }), "email", 0, "control character U+000D"},
		{"no address", with(func(p *store.Prospect) { p.Email = "" }), "email", 0, "needs an email or a phone"},
		{"phone long", with(func(p *store.Prospect) { p.Phone = x("1", 65) }), "phone", 64, "phone: 65 bytes, longer than the 64-byte limit"},
		{"first name 10 MB", with(func(p *store.Prospect) { p.FirstName = x("a", 10<<20) }), "first_name", 200, "first_name: 10485760 bytes, longer than the 200-byte limit"},
		{"first name newline", with(func(p *store.Prospect) { p.FirstName = "Ada\nLovelace" }), "first_name", 0, `first_name "Ada\nLovelace": control character U+000A at byte 3`},
		{"first name invalid UTF-8", with(func(p *store.Prospect) { p.FirstName = "Ad\xe9" }), "first_name", 0, "not valid UTF-8 at byte 2"},
		{"first name C1 control", with(func(p *store.Prospect) { p.FirstName = "Ada\u0085" }), "first_name", 0, "U+0085"},
		{"last name", with(func(p *store.Prospect) { p.LastName = x("b", 201) }), "last_name", 200, "last_name: 201 bytes"},
		{"company", with(func(p *store.Prospect) { p.Company = x("c", 201) }), "company", 200, "200-byte limit"},
		{"title", with(func(p *store.Prospect) { p.Title = x("t", 201) }), "title", 200, "200-byte limit"},
		{"city", with(func(p *store.Prospect) { p.City = x("c", 101) }), "city", 100, "100-byte limit"},
		{"state", with(func(p *store.Prospect) { p.State = x("s", 101) }), "state", 100, "100-byte limit"},
		{"country", with(func(p *store.Prospect) { p.Country = x("c", 101) }), "country", 100, "100-byte limit"},
		{"timezone", with(func(p *store.Prospect) { p.TimeZone = x("z", 65) }), "timezone", 64, "64-byte limit"},
		{"owner", with(func(p *store.Prospect) { p.Owner = x("o", 129) }), "owner", 128, "128-byte limit"},
		{"owner tab", with(func(p *store.Prospect) { p.Owner = "sam\t" }), "owner", 0, "U+0009"},
		{"too many attributes", with(func(p *store.Prospect) { p.Attr = attrs(51) }), "attr", 50, "attr: 51 attributes, more than the limit of 50"},
		{"attribute name dash", with(func(p *store.Prospect) { p.Attr = map[string]string{"plan-type": "pro"} }), "attr", 0, `attr "plan-type": attribute names are 1-64 letters, digits and _`},
		{"attribute name dot", with(func(p *store.Prospect) { p.Attr = map[string]string{"a.b": "pro"} }), "attr", 0, `attr "a.b"`},
		{"attribute name digit", with(func(p *store.Prospect) { p.Attr = map[string]string{"1st": "pro"} }), "attr", 0, "not starting with a digit"},
		{"attribute name empty", with(func(p *store.Prospect) { p.Attr = map[string]string{"": "pro"} }), "attr", 0, "attr: attribute names"},
		{"attribute name long", with(func(p *store.Prospect) { p.Attr = map[string]string{x("k", 65): "pro"} }), "attr", 64, "1-64 letters"},
		{"attribute value long", with(func(p *store.Prospect) { p.Attr = map[string]string{"blurb": x("v", 1001)} }), "attr.blurb", 1000, "attr.blurb: 1001 bytes, longer than the 1000-byte limit"},
		{"attribute value control", with(func(p *store.Prospect) { p.Attr = map[string]string{"plan": "pro\x00"} }), "attr.plan", 0, "U+0000"},
		{"attribute value invalid UTF-8", with(func(p *store.Prospect) { p.Attr = map[string]string{"plan": "\xc3"} }), "attr.plan", 0, "not valid UTF-8 at byte 0"},
		// Of several bad attributes, the first by name is reported.
		{"attributes stable", with(func(p *store.Prospect) { p.Attr = map[string]string{"z": "\x01", "b-": "x", "c": x("v", 2000)} }), "attr", 0, `attr "b-"`},
	}
	for _, tc := range cases {
		err := tc.p.Normalize("US")
		var fe *store.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: want a *FieldError, got %v", tc.name, err)
			continue
		}
		if fe.Field != tc.field || fe.Limit != tc.limit || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: got field %q limit %d %q; want field %q limit %d, text containing %q", tc.name, fe.Field, fe.Limit, err, tc.field, tc.limit, tc.text)
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: error text is %d bytes long", tc.name, len(err.Error()))
		}
	}

	// At the limits everything is accepted, and the usual ids fit.
	full := store.Prospect{ID: "ann@example.com", Email: x("a", 242) + "@example.com", Phone: "+1 (415) 555-0100",
		FirstName: x("é", 100), LastName: x("b", 200), Company: x("c", 200), Title: x("t", 200), City: x("c", 100),
		State: x("s", 100), Country: x("c", 100), TimeZone: "America/Argentina/ComodRivadavia", Owner: x("o", 128), Attr: attrs(50)}
	full.Attr["a0"] = x("v", 998) + "\r\n"
	full.Attr["note"+x("_", 60)] = "line 1\n\tline 2"
	delete(full.Attr, "a1")
	if len(full.Email) != store.MaxEmailLen {
		t.Fatalf("test email is %d bytes", len(full.Email))
	}
	if err := full.Normalize("US"); err != nil {
		t.Fatalf("a prospect at every limit: %v", err)
	}
	for _, id := range []string{"+14155550100", "ann@example.com", "a.b_c-d+e@f", "ID-42", strings.Repeat("9", 128), "_x"} {
		p := store.Prospect{ID: id, Phone: "+14155550100"}
		if err := p.Normalize("US"); err != nil {
			t.Errorf("id %q: %v", id, err)
		}
	}

	// The phone error still says it is an invalid number.
	p := with(func(p *store.Prospect) { p.Phone = "12" })
	if err := p.Normalize("US"); !errors.Is(err, cadence.ErrInvalidPhone) {
		t.Errorf("bad phone: want ErrInvalidPhone, got %v", err)
	}
}

// Of every byte, the ones an id may contain need no escaping in a URL
// path segment and are none of the separators of key names, enrollment
// ids and tracking tokens.
func TestProspectIDCharset(t *testing.T) {
	var allowed []byte
	for c := 0; c < 256; c++ {
		id := "a" + string([]byte{byte(c)}) + "b"
		p := store.Prospect{ID: id, Email: "a@example.com"}
		if p.Normalize("US") != nil {
			continue
		}
		allowed = append(allowed, byte(c))
		if url.PathEscape(id) != id || strings.ContainsAny(id, "~|:{}/?#%") {
			t.Errorf("id %q is accepted", id)
		}
	}
	if len(allowed) != 26+26+10+len(store.IDChars) {
		t.Errorf("allowed bytes: %q", allowed)
	}
}
