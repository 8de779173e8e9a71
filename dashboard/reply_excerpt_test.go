package dashboard_test

import (
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/store"
)

// A warm lead whose reply was cut to its excerpt says so, and the link
// under it promises the profile and timeline, not the full reply; a reply
// kept whole has no such note.
func TestWarmLeadSaysWhenTheReplyIsShortened(t *testing.T) {
	f := newFixture(t)
	cut := f.enroll(&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Owner: "sam"})
	whole := f.enroll(&store.Prospect{ID: "bob", FirstName: "Bob", Owner: "sam"})
	f.reply(cut, strings.Repeat("word ", 56)[:279]+"…") // as server.excerpt cuts a long reply
	f.reply(whole, "Yes, call me tomorrow")
	page := f.get(f.sam, "/")
	lead := func(eid string) string {
		t.Helper()
		i := strings.Index(page, `<li class="lead" id="lead-`+eid+`"`)
		if i < 0 {
			t.Fatalf("no lead %s", eid)
		}
		return page[i : i+strings.Index(page[i:], "</li>")]
	}
	const note = `<p class="muted reply-cut">Shortened: Nurture keeps only the first 280 characters of a reply, here and on the timeline.</p>`
	if l := lead(cut); !strings.Contains(l, note) || !strings.Contains(l, `<a href="/prospects/ada">Ada Lovelace: profile and timeline</a>`) {
		t.Errorf("shortened reply:\n%s", l)
	}
	if l := lead(whole); strings.Contains(l, "reply-cut") || !strings.Contains(l, `<blockquote class="reply">Yes, call me tomorrow</blockquote>`) {
		t.Errorf("whole reply:\n%s", l)
	}
	if strings.Contains(strings.ToLower(page), "full reply") {
		t.Errorf("the page promises a full reply")
	}
}
