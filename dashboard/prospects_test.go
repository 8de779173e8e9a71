package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/store"
)

var (
	rowRE    = regexp.MustCompile(`<li class="lead" id="prospect-[^"]+" data-pid="([^"]+)" data-owner="([^"]*)">`)
	nextRE   = regexp.MustCompile(`<a class="button" rel="next" href="([^"]+)" id="next">`)
	prevRE   = regexp.MustCompile(`<a class="button" rel="prev" href="([^"]+)" id="prev">`)
	labelRE  = regexp.MustCompile(`<label for="([^"]+)"`)
	fieldRE  = regexp.MustCompile(`<(?:input|select)[^>]* id="([^"]+)"`)
	hiddenRE = regexp.MustCompile(`<input type="hidden"`)
)

// rows lists the prospect ids of a list page, in order.
func rows(page string) []string {
	out := []string{}
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// reindex puts the prospects enrolled so far in the search index.
func (f *fixture) reindex() {
	f.t.Helper()
	if _, err := f.e.Store().ReindexProspects(context.Background(), nil); err != nil {
		f.t.Fatal(err)
	}
}

// status loads a page and returns its status and body.
func (f *fixture) status(cookie, path string) (int, string, *http.Response) {
	f.t.Helper()
	resp, body := do(f.t, req{method: "GET", url: f.ts.URL + path, cookie: cookie})
	return resp.StatusCode, body, resp
}

func (f *fixture) book() {
	f.t.Helper()
	f.enroll(&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines", Email: "ada@analytical.example", Phone: "+12125550100", Owner: "sam"})
	f.enroll(&store.Prospect{ID: "jose", FirstName: "José", LastName: "Núñez", Company: "Acmé", Owner: "sam"})
	f.enroll(&store.Prospect{ID: "grace", FirstName: "Grace", LastName: "Hopper", Company: "Navy", Owner: "kim"})
	f.enroll(&store.Prospect{ID: "alan", FirstName: "Alan", LastName: "Turing", Owner: "lee"})
}

// A rep's list is their own book, everyone's one click away; an admin
// starts on everyone's and picks an owner from a labelled select.
func TestProspectListIsMineByDefault(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reindex()
	page := f.get(f.sam, "/prospects")
	if got := rows(page); !slices.Equal(got, []string{"ada", "jose"}) {
		t.Fatalf("sam's list: %v", got)
	}
	for _, want := range []string{"<h1>My prospects</h1>", `aria-label="Whose prospects"`, "Ada Lovelace", "Analytical Engines", "mailto:ada@analytical.example",
		"tel:&#43;12125550100", "owner sam", "c1 · Only stage · running", `href="/prospects/ada"`, "José Núñez"} {
		if !strings.Contains(page, want) {
			t.Errorf("sam's list lacks %q", want)
		}
	}
	if strings.Contains(page, `<select id="owner"`) {
		t.Error("sam is offered the owner select")
	}
	if got := rows(f.get(f.sam, "/prospects?owner=*")); !slices.Equal(got, []string{"ada", "alan", "grace", "jose"}) {
		t.Errorf("everyone's, for sam: %v", got)
	}
	// A rep's choices are theirs or everyone's.
	if got := rows(f.get(f.sam, "/prospects?owner=kim")); !slices.Equal(got, []string{"ada", "jose"}) {
		t.Errorf("sam asking for kim's: %v, want his own", got)
	}
	admin := f.get(f.ops, "/prospects")
	if got := rows(admin); len(got) != 4 || !strings.Contains(admin, "<h1>Everyone&#39;s prospects</h1>") {
		t.Errorf("admin's list: %v", got)
	}
	if !strings.Contains(admin, `<label for="owner">Owner <select id="owner" name="owner"><option value="*" selected>Everyone</option><option value="kim">kim</option><option value="lee">lee</option><option value="sam">sam</option></select>`) {
		t.Error("admin's owner select is not the owners with enrollments")
	}
	if got := rows(f.get(f.ops, "/prospects?owner=kim")); !slices.Equal(got, []string{"grace"}) {
		t.Errorf("admin choosing kim: %v", got)
	}
}

func TestProspectSearchAndFilters(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reply(store.EnrollmentID("jose", "c1"), "Call me Tuesday")
	f.reindex()
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/prospects?q=lov", []string{"ada"}},
		{"/prospects?q=NU%C3%91", []string{"jose"}}, // NUÑ
		{"/prospects?q=nun", []string{"jose"}},
		{"/prospects?q=acme", []string{"jose"}},
		{"/prospects?q=212+555", []string{"ada"}},
		{"/prospects?q=a&owner=*", []string{"jose", "ada", "alan"}}, // by the first term that matched: acme, ada lovelace, alan turing
		{"/prospects?state=warm", []string{"jose"}},
		{"/prospects?state=active&owner=*", []string{"ada", "alan", "grace"}},
		{"/prospects?cadence=c1&stage=only&owner=*", []string{"ada", "alan", "grace", "jose"}},
		{"/prospects?q=ada&state=warm", []string{}},
	} {
		page := f.get(f.sam, c.path)
		if got := rows(page); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
	page := f.get(f.sam, "/prospects?state=warm")
	for _, want := range []string{"c1 · Only stage · waiting for sales", `<option value="warm" selected>Waiting for sales</option>`,
		`<optgroup label="c1"><option value="only">Only</option></optgroup>`, `id="clear"`} {
		if !strings.Contains(page, want) {
			t.Errorf("warm filter page lacks %q", want)
		}
	}
	// The search box keeps what was typed.
	if page := f.get(f.sam, "/prospects?q=lov"); !strings.Contains(page, `name="q" type="search" value="lov"`) {
		t.Error("the search box does not keep the query")
	}
}

// Every control has a label, there is no script, and the form works from
// the keyboard as a plain GET form.
func TestProspectPageIsAccessible(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reindex()
	for _, cookie := range []string{f.sam, f.ops} {
		page := f.get(cookie, "/prospects")
		labels := map[string]bool{}
		for _, m := range labelRE.FindAllStringSubmatch(page, -1) {
			labels[m[1]] = true
		}
		for _, m := range fieldRE.FindAllStringSubmatch(page, -1) {
			if !labels[m[1]] {
				t.Errorf("control #%s has no label", m[1])
			}
		}
		if strings.Contains(page, "<script") {
			t.Error("the page has a script")
		}
		if !strings.Contains(page, `role="search"`) || !strings.Contains(page, `aria-describedby="q-help"`) || !strings.Contains(page, `<button class="primary" type="submit" id="search-button">Search</button>`) {
			t.Error("the search form is not a labelled search landmark with a submit button")
		}
	}
	if n := len(hiddenRE.FindAllString(f.get(f.ops, "/prospects"), -1)); n == 0 {
		t.Error("no hidden fields at all: the logout form lost its CSRF token?")
	}
}

// Pages of 25 with Next and Previous; the cursor keeps the filters and
// the scope; the last page has no Next, the first no Previous.
func TestProspectPaging(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 31; i++ {
		f.enroll(&store.Prospect{ID: fmt.Sprintf("p%02d", i), FirstName: "Pat", LastName: fmt.Sprintf("Number%02d", i), Owner: "sam"})
	}
	f.enroll(&store.Prospect{ID: "kims", FirstName: "Pat", LastName: "Kim", Owner: "kim"})
	f.reindex()
	first := f.get(f.sam, "/prospects?q=pat")
	page1 := rows(first)
	if len(page1) != 25 || page1[0] != "p00" || prevRE.MatchString(first) || !strings.Contains(first, "25 prospects on this page; more on the next page") {
		t.Fatalf("page 1: %v (prev %v)", page1, prevRE.FindStringSubmatch(first))
	}
	m := nextRE.FindStringSubmatch(first)
	if m == nil {
		t.Fatal("page 1 has no Next")
	}
	next := html.UnescapeString(m[1])
	if u, _ := url.Parse(next); u.Query().Get("q") != "pat" || u.Query().Get("owner") != "sam" || u.Query().Get("cursor") == "" {
		t.Errorf("Next link %q does not keep the search", next)
	}
	second := f.get(f.sam, next)
	if got := rows(second); len(got) != 6 || got[5] != "p30" || nextRE.MatchString(second) {
		t.Fatalf("page 2: %v", got)
	}
	m = prevRE.FindStringSubmatch(second)
	if m == nil {
		t.Fatal("page 2 has no Previous")
	}
	back := f.get(f.sam, html.UnescapeString(m[1]))
	if got := rows(back); !slices.Equal(got, page1) || prevRE.MatchString(back) {
		t.Errorf("Previous gives %v (prev link %v), want page 1 again", got, prevRE.MatchString(back))
	}
}

// No matches: say so, say how the search works, and offer the ways out.
func TestProspectNoMatchesHelps(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reindex()
	page := f.get(f.sam, "/prospects?q=grace&state=paused")
	for _, want := range []string{`id="no-matches"`, "No prospects match “grace” with these filters in your book.", "the start of a first or last name",
		`href="/prospects?owner=sam&amp;q=grace" id="without-filters"`, `id="search-everyone"`} {
		if !strings.Contains(page, want) {
			t.Errorf("no-match page lacks %q", want)
		}
	}
	// Following "everyone's" finds her.
	if got := rows(f.get(f.sam, "/prospects?q=grace&owner=*")); !slices.Equal(got, []string{"grace"}) {
		t.Errorf("grace in everyone's: %v", got)
	}
}

// An exact email or phone number opens the prospect, whoever owns it.
func TestProspectExactHitOpensIt(t *testing.T) {
	f := newFixture(t)
	f.book()
	for _, q := range []string{"ada@analytical.example", "ADA@analytical.example", "(212) 555-0100", "grace@example.com"} {
		code, _, resp := f.status(f.sam, "/prospects?q="+url.QueryEscape(q))
		want := "/prospects/ada"
		if strings.HasPrefix(q, "grace") {
			want = "/prospects/grace"
		}
		if code != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("q=%q: %d to %q, want %s", q, code, resp.Header.Get("Location"), want)
		}
	}
}

// A whole email or number that nobody has is said so, above what the
// search finds by prefix.
func TestProspectExactMissIsSaid(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reindex()
	page := f.get(f.sam, "/prospects?q="+url.QueryEscape("ada@"))
	if strings.Contains(page, `id="exact-miss"`) || !slices.Equal(rows(page), []string{"ada"}) {
		t.Errorf("a prefix of an address: exact miss shown or ada not found: %v", rows(page))
	}
	page = f.get(f.sam, "/prospects?q="+url.QueryEscape("nobody@example.com"))
	if !strings.Contains(page, `<p class="warm" role="alert" id="exact-miss">No prospect has the email address nobody@example.com.</p>`) || !strings.Contains(page, `id="no-matches"`) {
		t.Error("an unknown address is not said to be unknown")
	}
	page = f.get(f.sam, "/prospects?q="+url.QueryEscape("+1 312 555 0199"))
	if !strings.Contains(html.UnescapeString(page), "No prospect has the phone number +1 312 555 0199.") {
		t.Error("an unknown number is not said to be unknown")
	}
}

// A bad address says what was wrong and how to go on.
func TestProspectPageRefusesBadParameters(t *testing.T) {
	f := newFixture(t)
	f.book()
	f.reindex()
	for _, c := range []struct{ path, want, restart string }{
		{"/prospects?state=asleep", "The state “asleep” cannot be used: want one of active, paused, snoozed, warm, completed, exited.", "/prospects?owner=sam"},
		{"/prospects?cadence=nope", "The cadence “nope” cannot be used: not a loaded cadence (c1).", "/prospects?owner=sam"},
		{"/prospects?q=ad&cursor=garbage", "That page of results belongs to another search", "/prospects?owner=sam&amp;q=ad"},
	} {
		code, body, _ := f.status(f.sam, c.path)
		if code != http.StatusBadRequest || !strings.Contains(body, html.EscapeString(c.want)) || !strings.Contains(body, `<a href="`+c.restart+`" id="restart">`) {
			t.Errorf("%s: %d\n%s", c.path, code, body)
		}
	}
}

// Before the first reindex, the page says older prospects are missing.
func TestProspectPageSaysTheIndexIsNotReady(t *testing.T) {
	f := newFixture(t)
	f.book()
	if page := f.get(f.ops, "/prospects"); !strings.Contains(page, `id="index-not-ready"`) || !strings.Contains(page, "nurture reindex") {
		t.Error("admin is not told to run nurture reindex")
	}
	f.reindex()
	if page := f.get(f.ops, "/prospects"); strings.Contains(page, `id="index-not-ready"`) {
		t.Error("the notice stays after the reindex")
	}
}
