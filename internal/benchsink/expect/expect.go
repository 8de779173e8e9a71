// Package expect is the end-to-end benchmark's recipient population: the
// CSV row of recipient i and what that recipient's rendered email must
// say, derived from the address alone so the sink needs no shared state.
package expect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Domain is every benchmark recipient's domain.
const Domain = "bench.example"

var (
	plans  = []string{"free", "team", "enterprise"}
	cities = []string{"Lisbon", "Osaka", "Denver", "Nairobi", "Tallinn"}
)

// Row is recipient i's prospect.
type Row struct {
	Email, FirstName, City, Plan, Points, Ref string
}

// RowFor returns recipient i.
func RowFor(i int) Row {
	email := fmt.Sprintf("p%07d@%s", i, Domain)
	sum := sha256.Sum256([]byte("nurture-bench:" + email))
	return Row{Email: email, FirstName: "Name" + strconv.Itoa(i), City: cities[i%len(cities)], Plan: plans[i%len(plans)],
		Points: strconv.Itoa(i * 37 % 1000), Ref: "R-" + hex.EncodeToString(sum[:8])}
}

// WriteCSV writes the header and n rows in the columns `nurture import`
// maps (email, first_name, city; plan, points and ref become attributes).
func WriteCSV(w io.Writer, n int) error {
	if _, err := io.WriteString(w, "email,first_name,city,plan,points,ref\n"); err != nil {
		return err
	}
	for i := range n {
		r := RowFor(i)
		if _, err := fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s\n", r.Email, r.FirstName, r.City, r.Plan, r.Points, r.Ref); err != nil {
			return err
		}
	}
	return nil
}

// Expectation is what a recipient's HTML must and must not contain.
type Expectation struct {
	InHTML, NotInHTML []string
}

// Template is the benchmark cadence's HTML, matching For.
const Template = `<p>Hi {{ .FirstName }},</p>
<p>Your {{ .Attr.plan }} plan in {{ .City }} has {{ .Attr.points }} points.</p>
<p>Reference {{ .Attr.ref }}</p>
{{ if eq .Attr.plan "enterprise" }}<p>Your account manager will call this week.</p>{{ else }}<p>Teams on enterprise get an account manager.</p>{{ end }}
<p><a href="https://acme.example/pricing">See pricing</a></p>
<p><a href="{{ .UnsubscribeURL }}">Unsubscribe</a></p>`

// For returns the expectation of an address written by RowFor.
func For(addr string) (Expectation, error) {
	local, domain, ok := strings.Cut(strings.Trim(addr, "<>"), "@")
	if !ok || domain != Domain || !strings.HasPrefix(local, "p") {
		return Expectation{}, fmt.Errorf("%q is not a benchmark recipient", addr)
	}
	i, err := strconv.Atoi(local[1:])
	if err != nil {
		return Expectation{}, fmt.Errorf("%q is not a benchmark recipient", addr)
	}
	r := RowFor(i)
	e := Expectation{InHTML: []string{"Hi " + r.FirstName + ",", "Your " + r.Plan + " plan in " + r.City + " has " + r.Points + " points.", "Reference " + r.Ref}}
	manager, upsell := "Your account manager will call this week.", "Teams on enterprise get an account manager."
	if r.Plan == "enterprise" {
		e.InHTML, e.NotInHTML = append(e.InHTML, manager), []string{upsell}
	} else {
		e.InHTML, e.NotInHTML = append(e.InHTML, upsell), []string{manager}
	}
	return e, nil
}

// Cadence is a one-touch cadence sending Template at once, any time of
// day, so the benchmark measures sending, not waiting.
func Cadence(id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: End-to-end benchmark\ntimezone: UTC\n", id)
	b.WriteString("from: {email: \"Acme <hello@acme.example>\"}\npostal_address: \"1 Main St, Springfield\"\n")
	b.WriteString("send_window: {start: \"00:00\", end: \"24:00\"}\n")
	b.WriteString("stages:\n  - id: only\n    touches:\n      - {id: hello, channel: email, delay: 0, template: hello}\n")
	b.WriteString("templates:\n  hello:\n    subject: \"{{ .FirstName }}, your {{ .Attr.plan }} plan\"\n    html: |\n")
	for _, line := range strings.Split(Template, "\n") {
		b.WriteString("      " + line + "\n")
	}
	return b.String()
}
