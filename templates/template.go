package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Data is what a template can reference. Prospect fields are top-level
// (`.FirstName`); custom attributes are under `.Attr` (`.Attr.plan`).
type Data struct {
	FirstName string
	LastName  string
	Email     string
	Phone     string
	Company   string
	Title     string
	City      string
	Region    string
	Country   string
	TimeZone  string
	Owner     string
	Attr      map[string]string

	// Set by the engine for each send.
	UnsubscribeURL string
	PostalAddress  string
	SenderName     string
	Cadence        string
	Stage          string
}

// Fields lists the names a template may reference at the top level.
var Fields = func() []string {
	t := reflect.TypeOf(Data{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Name
	}
	return out
}()

// Part names a part of a template.
type Part string

const (
	PartSubject Part = "subject"
	PartText    Part = "text"
	PartHTML    Part = "html"
	PartSMS     Part = "sms"
)

// Source is the text of a template's parts; empty parts are absent.
type Source struct {
	Subject, Text, HTML, SMS string
}

// Problem is a compile problem at a line of one part (1-based, 0 unknown).
type Problem struct {
	Part Part
	Line int
	Msg  string
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", p.Part, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Part, p.Msg)
}

// HoldError says a touch cannot be rendered for this prospect yet; the
// engine holds the touch with this reason rather than sending a blank.
type HoldError struct {
	Template string
	Part     Part
	Field    string
}

func (e *HoldError) Error() string {
	return fmt.Sprintf("template %s %s: field %s is empty and has no fallback (use | default \"…\")", e.Template, e.Part, e.Field)
}

// ErrTooLong is returned for an SMS body over 10 segments or 1,600 characters.
var ErrTooLong = errors.New("sms body too long")

// Kind says which channel a template is for.
type Kind string

const (
	KindEmail Kind = "email"
	KindSMS   Kind = "sms"
)

// Template is a compiled template.
type Template struct {
	Name string
	Kind Kind

	subject, text, sms *texttemplate.Template
	html               *htmltemplate.Template
	// required lists field paths output without a fallback, per part.
	required map[Part][]string
	// hasUnsubscribe records whether the body already shows the link.
	textHasUnsub, htmlHasUnsub bool
	// linkOrigins are the origins of URLs written in the HTML (links.go).
	linkOrigins []string
	// headline is the subject's source (email) or the SMS text's, for
	// reports that name a touch by what it says.
	headline string
}

// Headline is the template's subject as written (email) or its SMS text,
// with template actions left in: "Welcome, {{.FirstName}}".
func (t *Template) Headline() string { return t.headline }

var funcs = map[string]any{
	"default": func(def string, v any) string {
		s := fmt.Sprint(v)
		if v == nil || strings.TrimSpace(s) == "" {
			return def
		}
		return s
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"title": func(s string) string {
		words := strings.Fields(s)
		for i, w := range words {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
		return strings.Join(words, " ")
	},
}

// Funcs lists the function names templates may call.
func Funcs() []string {
	out := make([]string, 0, len(funcs))
	for k := range funcs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var lineInErr = regexp.MustCompile(`^(?:html/)?template: [^:]*:(\d+):(?:\d+:)?\s*(.*)$`)

// sampleData has every field set, for compile-time checks.
func sampleData() *Data {
	d := &Data{Attr: map[string]string{}}
	v := reflect.ValueOf(d).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Kind() == reflect.String {
			v.Field(i).SetString("sample")
		}
	}
	return d
}

func problemFromErr(part Part, err error) Problem {
	msg := err.Error()
	if m := lineInErr.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Part: part, Line: n, Msg: m[2]}
	}
	return Problem{Part: part, Msg: strings.TrimPrefix(msg, "template: ")}
}

// Compile parses every part of src and reports every problem it finds: parse
// errors, unknown functions, unknown fields, an email with no body, a
// template that is both email and SMS.
func Compile(name string, src Source) (*Template, []Problem) {
	t := &Template{Name: name, required: map[Part][]string{}, headline: strings.Join(strings.Fields(src.Subject), " ")}
	if t.headline == "" {
		t.headline = strings.Join(strings.Fields(src.SMS), " ")
	}
	var probs []Problem
	isEmail := src.Subject != "" || src.Text != "" || src.HTML != ""
	switch {
	case isEmail && src.SMS != "":
		return nil, []Problem{{Part: PartSMS, Msg: "a template is either email (subject, text, html) or sms, not both"}}
	case src.SMS != "":
		t.Kind = KindSMS
	case isEmail:
		t.Kind = KindEmail
		if src.Subject == "" {
			probs = append(probs, Problem{Part: PartSubject, Msg: "an email template needs a subject"})
		}
		if src.Text == "" && src.HTML == "" {
			probs = append(probs, Problem{Part: PartText, Msg: "an email template needs a text or html body"})
		}
	default:
		return nil, []Problem{{Part: PartText, Msg: "empty template: give subject and text/html for email, or sms"}}
	}

	parseText := func(part Part, body string) *texttemplate.Template {
		if body == "" {
			return nil
		}
		tt, err := texttemplate.New(string(part)).Funcs(funcs).Option("missingkey=zero").Parse(body)
		if err != nil {
			probs = append(probs, problemFromErr(part, err))
			return nil
		}
		if len(tt.Templates()) > 1 {
			probs = append(probs, Problem{Part: part, Msg: "{{ define }} is not supported; write the text inline"})
			return nil
		}
		probs = append(probs, t.analyze(part, tt.Tree)...)
		return tt
	}
	t.subject = parseText(PartSubject, src.Subject)
	t.text = parseText(PartText, src.Text)
	t.sms = parseText(PartSMS, src.SMS)
	if src.HTML != "" {
		ht, err := htmltemplate.New(string(PartHTML)).Funcs(funcs).Option("missingkey=zero").Parse(src.HTML)
		var analyzed []Problem
		var origins []string
		if err == nil {
			analyzed = t.analyze(PartHTML, ht.Tree)
			// Before the first Execute: the escaper rewrites the tree.
			origins = linkOrigins(ht.Tree)
			if len(ht.Templates()) > 1 {
				analyzed = append(analyzed, Problem{Part: PartHTML, Msg: "{{ define }} is not supported; write the text inline"})
			}
		}
		if err != nil {
			probs = append(probs, problemFromErr(PartHTML, err))
		} else if len(analyzed) > 0 {
			probs = append(probs, analyzed...)
		} else {
			// html/template checks contexts (an unclosed attribute, a
			// branch ending inside a tag) on first execution: do it now
			// with sample data so it is a compile problem, not a send error.
			if err := ht.Execute(io.Discard, sampleData()); err != nil && !errors.As(err, new(*texttemplate.ExecError)) {
				probs = append(probs, problemFromErr(PartHTML, err))
			} else {
				t.html, t.linkOrigins = ht, origins
			}
		}
	}
	if src.SMS != "" {
		if info := CountSegments(staticText(t.sms)); info.Segments > MaxSegments || info.Chars > MaxChars {
			probs = append(probs, Problem{Part: PartSMS, Msg: fmt.Sprintf("body is %d segments, %d characters (%s) before personalization; the limit is %d segments and %d characters", info.Segments, info.Chars, info.Encoding, MaxSegments, MaxChars)})
		}
	}
	t.textHasUnsub = references(t.text, "UnsubscribeURL")
	if t.html != nil {
		t.htmlHasUnsub = referencesTree(t.html.Tree, "UnsubscribeURL")
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return t, nil
}

// staticText is the template's literal text with actions removed: a lower
// bound on the rendered length.
func staticText(t *texttemplate.Template) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	walk(t.Tree.Root, func(n parse.Node, _ []string) {
		if tn, ok := n.(*parse.TextNode); ok {
			b.Write(tn.Text)
		}
	})
	return b.String()
}

func references(t *texttemplate.Template, field string) bool {
	return t != nil && referencesTree(t.Tree, field)
}

func referencesTree(tree *parse.Tree, field string) bool {
	found := false
	walk(tree.Root, func(n parse.Node, _ []string) {
		if f, ok := n.(*parse.FieldNode); ok && len(f.Ident) > 0 && f.Ident[0] == field {
			found = true
		}
	})
	return found
}

// walk visits every node; guards lists the field paths tested by enclosing
// if/with blocks.
func walk(n parse.Node, visit func(n parse.Node, guards []string)) {
	var rec func(n parse.Node, guards []string)
	rec = func(n parse.Node, guards []string) {
		if n == nil || reflect.ValueOf(n).IsNil() {
			return
		}
		visit(n, guards)
		switch x := n.(type) {
		case *parse.ListNode:
			for _, c := range x.Nodes {
				rec(c, guards)
			}
		case *parse.ActionNode:
			rec(x.Pipe, guards)
		case *parse.PipeNode:
			for _, c := range x.Cmds {
				rec(c, guards)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				rec(a, guards)
			}
		case *parse.IfNode:
			rec(x.Pipe, guards)
			rec(x.List, append(guards, pipeFields(x.Pipe)...))
			rec(x.ElseList, guards)
		case *parse.WithNode:
			rec(x.Pipe, guards)
			rec(x.List, append(guards, pipeFields(x.Pipe)...))
			rec(x.ElseList, guards)
		case *parse.RangeNode:
			rec(x.Pipe, guards)
			rec(x.List, guards)
			rec(x.ElseList, guards)
		}
	}
	rec(n, nil)
}

func pipeFields(p *parse.PipeNode) []string {
	var out []string
	if p == nil {
		return nil
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			if f, ok := a.(*parse.FieldNode); ok {
				out = append(out, strings.Join(f.Ident, "."))
			}
		}
	}
	return out
}

// analyze checks field names and records which fields an output needs.
func (t *Template) analyze(part Part, tree *parse.Tree) []Problem {
	var probs []Problem
	known := map[string]bool{}
	for _, f := range Fields {
		known[f] = true
	}
	walk(tree.Root, func(n parse.Node, guards []string) {
		switch x := n.(type) {
		case *parse.TemplateNode:
			line, _ := tree.ErrorContext(x)
			probs = append(probs, Problem{Part: part, Line: lineOf(line), Msg: "template calls ({{ template }} / {{ block }}) are not supported; write the text inline"})
		case *parse.RangeNode:
			// Ranging over a number or a function result could loop for
			// ever at send time; only fields and variables (.Attr) may be
			// ranged over.
			ok := len(x.Pipe.Cmds) == 1 && len(x.Pipe.Cmds[0].Args) == 1
			if ok {
				switch x.Pipe.Cmds[0].Args[0].(type) {
				case *parse.FieldNode, *parse.VariableNode, *parse.DotNode:
				default:
					ok = false
				}
			}
			if !ok {
				line, _ := tree.ErrorContext(x)
				probs = append(probs, Problem{Part: part, Line: lineOf(line), Msg: "range may only go over a field such as .Attr"})
			}
		case *parse.FieldNode:
			if len(x.Ident) > 0 && !known[x.Ident[0]] {
				line, _ := tree.ErrorContext(x)
				probs = append(probs, Problem{Part: part, Line: lineOf(line), Msg: fmt.Sprintf("unknown field .%s (known: %s; custom attributes are .Attr.NAME)", x.Ident[0], strings.Join(Fields, ", "))})
			}
			if len(x.Ident) > 2 && x.Ident[0] == "Attr" {
				line, _ := tree.ErrorContext(x)
				probs = append(probs, Problem{Part: part, Line: lineOf(line), Msg: fmt.Sprintf(".%s: attributes are one level deep (.Attr.NAME)", strings.Join(x.Ident, "."))})
			}
		case *parse.ActionNode:
			if len(x.Pipe.Decl) > 0 {
				return
			}
			hasDefault := false
			for _, c := range x.Pipe.Cmds {
				if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "default" {
					hasDefault = true
				}
			}
			if hasDefault || len(x.Pipe.Cmds) == 0 {
				return
			}
			if f, ok := x.Pipe.Cmds[0].Args[0].(*parse.FieldNode); ok {
				path := strings.Join(f.Ident, ".")
				if !contains(guards, path) && !engineField(path) {
					t.required[part] = append(t.required[part], path)
				}
			}
		}
	})
	return probs
}

// engineField reports fields the engine always fills.
func engineField(path string) bool {
	switch path {
	case "UnsubscribeURL", "PostalAddress", "SenderName", "Cadence", "Stage":
		return true
	}
	return false
}

func lineOf(ctx string) int {
	// ErrorContext gives "name:line:col".
	parts := strings.Split(ctx, ":")
	if len(parts) >= 2 {
		n, _ := strconv.Atoi(parts[1])
		return n
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookup resolves a required field path against d.
func lookup(d *Data, path string) string {
	if name, ok := strings.CutPrefix(path, "Attr."); ok {
		return d.Attr[name]
	}
	v := reflect.ValueOf(d).Elem().FieldByName(path)
	if v.IsValid() && v.Kind() == reflect.String {
		return v.String()
	}
	return "x" // not a plain string field: nothing to hold on
}

func (t *Template) checkRequired(part Part, d *Data) error {
	for _, f := range t.required[part] {
		if strings.TrimSpace(lookup(d, f)) == "" {
			return &HoldError{Template: t.Name, Part: part, Field: f}
		}
	}
	return nil
}

// Email is a rendered email.
type Email struct {
	Subject, Text, HTML string
}

// RenderEmail renders subject and bodies. When the body does not show the
// unsubscribe link itself, a footer with the link and the postal address is
// appended, so every marketing email carries both (CAN-SPAM, RFC 8058 note).
func (t *Template) RenderEmail(d Data) (Email, error) {
	if t.Kind != KindEmail {
		return Email{}, fmt.Errorf("template %s is %s, not email", t.Name, t.Kind)
	}
	var out Email
	var err error
	if out.Subject, err = t.exec(PartSubject, t.subject, &d); err != nil {
		return Email{}, err
	}
	out.Subject = strings.Join(strings.Fields(out.Subject), " ")
	if out.Text, err = t.exec(PartText, t.text, &d); err != nil {
		return Email{}, err
	}
	if t.html != nil {
		if err := t.checkRequired(PartHTML, &d); err != nil {
			return Email{}, err
		}
		b := capWriter{max: MaxRendered}
		if err := t.html.Execute(&b, &d); err != nil {
			return Email{}, fmt.Errorf("template %s html: %w", t.Name, err)
		}
		out.HTML = b.String()
	}
	if t.text != nil && !t.textHasUnsub {
		out.Text = strings.TrimRight(out.Text, "\n") + "\n\n--\n" + footerText(&d)
	}
	if t.html != nil && !t.htmlHasUnsub {
		out.HTML = injectFooter(out.HTML, footerHTML(&d))
	}
	return out, nil
}

func footerText(d *Data) string {
	s := "Unsubscribe: " + d.UnsubscribeURL + "\n"
	if d.PostalAddress != "" {
		s += d.PostalAddress + "\n"
	}
	return s
}

func footerHTML(d *Data) string {
	var b bytes.Buffer
	_ = footerTmpl.Execute(&b, d)
	return b.String()
}

var footerTmpl = htmltemplate.Must(htmltemplate.New("footer").Parse(
	`<p style="font-size:12px;color:#666">{{if .PostalAddress}}{{.PostalAddress}}<br>{{end}}<a href="{{.UnsubscribeURL}}">Unsubscribe</a></p>`))

func injectFooter(html, footer string) string {
	if i := strings.LastIndex(strings.ToLower(html), "</body>"); i >= 0 {
		return html[:i] + footer + html[i:]
	}
	return html + footer
}

// SMS is a rendered SMS body with its segment count.
type SMS struct {
	Body string
	SegmentInfo
}

// RenderSMS renders an SMS body and rejects one over the carrier limits.
func (t *Template) RenderSMS(d Data) (SMS, error) {
	if t.Kind != KindSMS {
		return SMS{}, fmt.Errorf("template %s is %s, not sms", t.Name, t.Kind)
	}
	body, err := t.exec(PartSMS, t.sms, &d)
	if err != nil {
		return SMS{}, err
	}
	body = strings.TrimSpace(body)
	info := CountSegments(body)
	if info.Segments > MaxSegments || info.Chars > MaxChars {
		return SMS{}, fmt.Errorf("template %s: %w: %d segments, %d characters", t.Name, ErrTooLong, info.Segments, info.Chars)
	}
	return SMS{Body: body, SegmentInfo: info}, nil
}

func (t *Template) exec(part Part, tt *texttemplate.Template, d *Data) (string, error) {
	if tt == nil {
		return "", nil
	}
	if err := t.checkRequired(part, d); err != nil {
		return "", err
	}
	b := capWriter{max: MaxRendered}
	if err := tt.Execute(&b, d); err != nil {
		return "", fmt.Errorf("template %s %s: %w", t.Name, part, err)
	}
	return b.String(), nil
}

// MaxRendered bounds one rendered part; a template that renders more is an
// error, not a 100 MB email.
const MaxRendered = 1 << 20

// ErrRenderedTooLarge is returned when a part renders past MaxRendered.
var ErrRenderedTooLarge = errors.New("rendered text is larger than 1 MiB")

type capWriter struct {
	bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) > w.max {
		return 0, ErrRenderedTooLarge
	}
	return w.Buffer.Write(p)
}
