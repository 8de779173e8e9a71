package templates_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCountSegments(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		enc      templates.Encoding
		units    int
		segments int
	}{
		{"empty", "", templates.GSM7, 0, 0},
		{"160 gsm is one", strings.Repeat("a", 160), templates.GSM7, 160, 1},
		{"161 gsm is two", strings.Repeat("a", 161), templates.GSM7, 161, 2},
		{"306 gsm is two", strings.Repeat("a", 306), templates.GSM7, 306, 2},
		{"307 gsm is three", strings.Repeat("a", 307), templates.GSM7, 307, 3},
		{"euro costs two", "€" + strings.Repeat("a", 158), templates.GSM7, 160, 1},
		{"euro tips over", "€" + strings.Repeat("a", 159), templates.GSM7, 161, 2},
		{"escape pair not split", strings.Repeat("a", 152) + "{" + strings.Repeat("a", 10), templates.GSM7, 164, 2},
		{"escape pair at boundary", strings.Repeat("a", 152) + "{" + strings.Repeat("a", 152), templates.GSM7, 306, 3},
		{"gsm accents stay gsm", "Café ñu Ü", templates.GSM7, 9, 1},
		{"accent outside gsm switches", "Café ñandú", templates.UCS2, 10, 1},
		{"curly quote switches to ucs2", "It’s here", templates.UCS2, 9, 1},
		{"70 ucs2 is one", "’" + strings.Repeat("a", 69), templates.UCS2, 70, 1},
		{"71 ucs2 is two", "’" + strings.Repeat("a", 70), templates.UCS2, 71, 2},
		{"emoji is two units", "Hi 👋", templates.UCS2, 5, 1},
		{"surrogate pair not split", strings.Repeat("a", 66) + "👋" + "b", templates.UCS2, 69, 1},
		{"surrogate pair at boundary", strings.Repeat("a", 66) + "👋" + strings.Repeat("b", 10), templates.UCS2, 78, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := templates.CountSegments(tc.body)
			if got.Encoding != tc.enc || got.Units != tc.units || got.Segments != tc.segments {
				t.Fatalf("got %+v, want %s units %d segments %d", got, tc.enc, tc.units, tc.segments)
			}
		})
	}
}

func compile(t *testing.T, src templates.Source) *templates.Template {
	t.Helper()
	tm, probs := templates.Compile("t", src)
	if len(probs) > 0 {
		t.Fatalf("compile: %v", probs)
	}
	return tm
}

func TestMissingFieldHoldsInsteadOfBlank(t *testing.T) {
	tm := compile(t, templates.Source{Subject: "Hi {{ .FirstName }}", Text: "Plan: {{ .Attr.plan }}\n{{ if .Company }}At {{ .Company }}{{ end }}"})
	_, err := tm.RenderEmail(templates.Data{Attr: map[string]string{"plan": "pro"}})
	var hold *templates.HoldError
	if !errors.As(err, &hold) || hold.Field != "FirstName" || hold.Part != templates.PartSubject {
		t.Fatalf("want hold on FirstName, got %v", err)
	}
	_, err = tm.RenderEmail(templates.Data{FirstName: "Ada"})
	if !errors.As(err, &hold) || hold.Field != "Attr.plan" {
		t.Fatalf("want hold on Attr.plan, got %v", err)
	}
	// A guarded field (inside if) and a defaulted field never hold.
	out, err := tm.RenderEmail(templates.Data{FirstName: "Ada", Attr: map[string]string{"plan": "pro"}})
	if err != nil || !strings.HasPrefix(out.Text, "Plan: pro\n") {
		t.Fatalf("render: %q %v", out.Text, err)
	}
	tm = compile(t, templates.Source{SMS: `Hi {{ .FirstName | default "there" }} {{ .Attr.tier | default "friend" }}`})
	sms, err := tm.RenderSMS(templates.Data{})
	if err != nil || sms.Body != "Hi there friend" {
		t.Fatalf("defaults: %q %v", sms.Body, err)
	}
}

func TestHTMLIsEscapedAndFooterAdded(t *testing.T) {
	tm := compile(t, templates.Source{Subject: "Hi", Text: "Hello {{ .FirstName }}", HTML: "<html><body><p>Hello {{ .FirstName }}</p></body></html>"})
	out, err := tm.RenderEmail(templates.Data{FirstName: `<script>x</script>`, UnsubscribeURL: "https://n.example/u/TOKEN", PostalAddress: "1 Main St"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.HTML, "<script>") || !strings.Contains(out.HTML, "&lt;script&gt;") {
		t.Errorf("html not escaped: %s", out.HTML)
	}
	if !strings.Contains(out.HTML, `href="https://n.example/u/TOKEN"`) || !strings.Contains(out.HTML, "1 Main St") || !strings.HasSuffix(out.HTML, "</body></html>") {
		t.Errorf("footer missing or misplaced: %s", out.HTML)
	}
	if !strings.Contains(out.Text, "Unsubscribe: https://n.example/u/TOKEN\n1 Main St") {
		t.Errorf("text footer missing: %q", out.Text)
	}
}

func TestCompileProblems(t *testing.T) {
	cases := map[string]struct {
		src  templates.Source
		want string
	}{
		"unbalanced":     {templates.Source{Subject: "Hi {{ .FirstName", Text: "x"}, "subject line 1: unclosed action"},
		"unknown func":   {templates.Source{Subject: "x", Text: "a\n{{ shout .FirstName }}"}, `text line 2: function "shout" not defined`},
		"unknown field":  {templates.Source{SMS: "{{ .Nick }}"}, "unknown field .Nick"},
		"deep attr":      {templates.Source{SMS: "{{ .Attr.a.b }}"}, "attributes are one level deep"},
		"both kinds":     {templates.Source{Subject: "x", Text: "y", SMS: "z"}, "not both"},
		"no body":        {templates.Source{Subject: "x"}, "needs a text or html body"},
		"empty":          {templates.Source{}, "empty template"},
		"bad html":       {templates.Source{Subject: "x", HTML: "<a href='{{ .Email }}"}, "html"},
		"sms over limit": {templates.Source{SMS: strings.Repeat("ü", 1601)}, "the limit is 10 segments"},
		"range number":   {templates.Source{Subject: "x", Text: "{{ range 1000000000 }}x{{ end }}"}, "range may only go over a field"},
		"range in html":  {templates.Source{Subject: "x", HTML: "{{ range 1000000000 }}{{ end }}"}, "range may only go over a field"},
		"define":         {templates.Source{SMS: `{{ define "x" }}a{{ end }}b`}, "define }} is not supported"},
		"template call":  {templates.Source{SMS: `{{ template "sms" }}`}, "template calls"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, probs := templates.Compile("t", tc.src)
			joined := ""
			for _, p := range probs {
				joined += p.Error() + "\n"
			}
			if !strings.Contains(joined, tc.want) {
				t.Fatalf("want %q in %q", tc.want, joined)
			}
		})
	}
}

func TestRangeOverAttributesWorks(t *testing.T) {
	tm := compile(t, templates.Source{Subject: "x", Text: "{{ range $k, $v := .Attr }}{{ $k }}={{ $v }};{{ end }}"})
	out, err := tm.RenderEmail(templates.Data{Attr: map[string]string{"a": "1", "b": "2"}})
	if err != nil || !strings.HasPrefix(out.Text, "a=1;b=2;") {
		t.Fatalf("%q %v", out.Text, err)
	}
}

func TestRenderedSMSOverLimitIsRefused(t *testing.T) {
	tm := compile(t, templates.Source{SMS: "{{ .Attr.blurb }}"})
	_, err := tm.RenderSMS(templates.Data{Attr: map[string]string{"blurb": strings.Repeat("x", 1700)}})
	if !errors.Is(err, templates.ErrTooLong) {
		t.Fatalf("want ErrTooLong, got %v", err)
	}
}

// TestGolden renders fixed templates for fixed prospects and compares with
// testdata/*.golden; run with -update after an intended change.
func TestGolden(t *testing.T) {
	email := compile(t, templates.Source{
		Subject: `{{ .FirstName | default "Hi" }}, your {{ .Attr.plan | default "trial" | upper }} plan`,
		Text:    "Hi {{ .FirstName | default \"there\" }},\n{{ if .Company }}Team {{ .Company }} is set up.\n{{ end }}Bye",
		HTML:    `<html><body><h1>Hi {{ .FirstName | default "there" }}</h1><a href="https://x.example/?c={{ .Company | default "none" }}">Go</a></body></html>`,
	})
	sms := compile(t, templates.Source{SMS: `{{ .FirstName | default "Hi" }}: 20% off ends Sunday €5 min. Reply STOP to opt out`})
	people := map[string]templates.Data{
		"full":    {FirstName: "Ada", Company: "Analytical & Sons", Attr: map[string]string{"plan": "team"}, UnsubscribeURL: "https://n.example/u/abc", PostalAddress: "1 Main St, Springfield"},
		"minimal": {UnsubscribeURL: "https://n.example/u/def"},
	}
	for name, d := range people {
		e, err := email.RenderEmail(d)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sms.RenderSMS(d)
		if err != nil {
			t.Fatal(err)
		}
		got := "subject: " + e.Subject + "\n--- text\n" + e.Text + "\n--- html\n" + e.HTML + "\n--- sms (" + string(s.Encoding) + ", " + strconv.Itoa(s.Segments) + " segment)\n" + s.Body + "\n"
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./templates -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", name, path, got)
		}
	}
}

func FuzzCompileAndRender(f *testing.F) {
	for _, s := range []string{"Hi {{ .FirstName }}", "{{", "{{ .Attr.x | default \"y\" }}", "{{ if .Company }}{{ .Company }}{{ end }}", "{{ range .Attr }}{{ . }}{{ end }}", "{{ template \"x\" }}", "{{ .FirstName | title }}"} {
		f.Add(s, "Ada")
	}
	f.Fuzz(func(t *testing.T, src, name string) {
		for _, s := range []templates.Source{{SMS: src}, {Subject: src, Text: src, HTML: src}} {
			tm, probs := templates.Compile("f", s)
			if tm == nil {
				if len(probs) == 0 {
					t.Fatal("nil template without problems")
				}
				continue
			}
			d := templates.Data{FirstName: name, Attr: map[string]string{"x": name}}
			if tm.Kind == templates.KindSMS {
				_, _ = tm.RenderSMS(d)
			} else {
				_, _ = tm.RenderEmail(d)
			}
		}
	})
}

func FuzzCountSegments(f *testing.F) {
	for _, s := range []string{"", "hello", "€{}[]", "👋🏽", "It’s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		info := templates.CountSegments(s)
		if info.Chars > 0 && info.Segments < 1 {
			t.Fatalf("%q: %+v", s, info)
		}
		per := 153
		if info.Encoding == templates.UCS2 {
			per = 67
		}
		if info.Segments > 1 && info.Units > info.Segments*per {
			t.Fatalf("%q: %d units cannot fit %d segments", s, info.Units, info.Segments)
		}
	})
}
