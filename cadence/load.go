package cadence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/nurture-dev/nurture/templates"
)

// MaxFileSize bounds a cadence file; larger input is rejected unread.
const MaxFileSize = 1 << 20

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// DefaultWindow is used when a cadence gives no send_window.
var DefaultWindow = Window{Days: AllDays.Days, Start: 8 * 60, End: 20 * 60}

// DefaultExits are the exit rules when a cadence gives none.
var DefaultExits = []ExitRule{{On: "unsubscribe"}, {On: "complaint"}, {On: "hard_bounce"}}

// LoadFile reads and validates a cadence file.
func LoadFile(path string) (*Cadence, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse validates a cadence definition. On failure the error is a
// *ValidationError listing every problem with file:line:column, and
// holding data as its Source.
func Parse(file string, data []byte) (*Cadence, error) {
	c, err := parse(file, data)
	if ve, ok := err.(*ValidationError); ok && len(data) <= MaxFileSize {
		ve.Source = data
	}
	return c, err
}

func parse(file string, data []byte) (*Cadence, error) {
	var p problems
	if len(data) > MaxFileSize {
		p.add(Pos{File: file}, "", "file is larger than %d bytes; split it", MaxFileSize)
		return nil, p.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		p.list = append(p.list, syntaxProblem(file, data, err))
		return nil, p.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		p.add(Pos{File: file, Line: 1}, "", "empty file: a cadence needs id, name, timezone, from and stages")
		return nil, p.err()
	}
	doc := root.Content[0]
	d := &decoder{file: file, lines: splitLines(data)}
	// The decoder reads one document; a second one would be ignored
	// silently, so it is a problem (a trailing empty "---" is not).
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.list = append(d.list, syntaxProblem(file, data, err))
	case len(next.Content) > 0 && !(next.Content[0].Kind == yaml.ScalarNode && next.Content[0].Tag == "!!null"):
		d.add(Pos{File: file, Line: next.Line, Column: next.Column}, "", "a second YAML document starts here; a cadence file holds one (remove the --- and what follows, or put it in its own file)")
	}
	// One pass reports everything: the semantic checks run on whatever
	// decoded, and skip the fields that did not (d.failed), whose problem
	// is already reported.
	var spec Spec
	d.decode(doc, reflect.ValueOf(&spec).Elem(), "")
	if d.failedAt("") {
		return nil, d.err() // not even a mapping: nothing to check
	}
	c := compile(&spec, d, file)
	if err := d.err(); err != nil {
		return nil, err
	}
	c.Version = "v" + contentHash(doc)
	return c, nil
}

// contentHash hashes the document's meaning: keys sorted, comments, styles
// and positions ignored.
func contentHash(n *yaml.Node) string {
	h := sha256.New()
	var rec func(n *yaml.Node)
	rec = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			type kv struct{ k, v *yaml.Node }
			pairs := make([]kv, 0, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				pairs = append(pairs, kv{n.Content[i], n.Content[i+1]})
			}
			sort.Slice(pairs, func(i, j int) bool { return pairs[i].k.Value < pairs[j].k.Value })
			h.Write([]byte("{"))
			for _, p := range pairs {
				fmt.Fprintf(h, "%q:", p.k.Value)
				rec(p.v)
			}
			h.Write([]byte("}"))
		case yaml.SequenceNode:
			h.Write([]byte("["))
			for _, c := range n.Content {
				rec(c)
			}
			h.Write([]byte("]"))
		default:
			fmt.Fprintf(h, "%q;", n.Value)
		}
	}
	rec(n)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (w *WindowSpec) compile(d *decoder, field string) Window {
	out := Window{Days: w.Days, Start: w.Start, End: w.End}
	if _, given := w.At["days"]; !given {
		out.Days = AllDays.Days
	}
	if d.failedAt(field) {
		return out
	}
	if w.End <= w.Start && !d.failed(field+".start") && !d.failed(field+".end") {
		d.add(w.At.Of("end"), field+".end", "window closes at %s, not after it opens at %s", w.End, w.Start)
	}
	if out.Days == (Weekdays{}) && !d.failed(field+".days") {
		d.add(w.At.Of("days"), field+".days", "window is open on no day")
	}
	return out
}

func compile(s *Spec, d *decoder, file string) *Cadence {
	c := &Cadence{
		ID: s.ID, Name: s.Name, Description: s.Description, File: file,
		Zone: s.TimeZone.Location, From: s.From, PostalAddress: s.PostalAddress,
		Window: DefaultWindow, SMSQuiet: SMSWindow(""), Caps: map[Channel]Cap{},
		stageIndex: map[string]int{}, touchIndex: map[string]*Touch{},
		Templates: map[string]*templates.Template{},
	}
	if !idPattern.MatchString(s.ID) && !d.failed("id") {
		d.add(s.At.Of("id"), "id", "%q is not a valid id (lowercase letters, digits, - and _, at most 63)", s.ID)
	}
	if s.SendWindow != nil {
		c.Window = s.SendWindow.compile(d, "send_window")
	}
	if q := s.SMSQuietHours; q != nil {
		w := q.compile(d, "sms_quiet_hours")
		legal := SMSWindow("")
		if (w.Start < legal.Start || w.End > legal.End) && !d.failed("sms_quiet_hours") {
			d.add(q.At.Of("start"), "sms_quiet_hours", "%s-%s is wider than the legal %s-%s; it may only narrow it", w.Start, w.End, legal.Start, legal.End)
		}
		c.SMSQuiet = w
	}
	c.Holidays = Holidays{}
	for _, h := range s.Holidays {
		c.Holidays[h] = true
	}
	for ch, cp := range map[Channel]*CapSpec{Email: s.FrequencyCaps.Email, SMS: s.FrequencyCaps.SMS} {
		field := "frequency_caps." + string(ch)
		if cp == nil || d.failedAt(field) {
			continue
		}
		if cp.Max < 1 && !d.failed(field+".max") {
			d.add(cp.At.Of("max"), field+".max", "must be at least 1, found %d", cp.Max)
		}
		if (cp.Per.BusinessDays > 0 || cp.Per.Approx() <= 0) && !d.failed(field+".per") {
			d.add(cp.At.Of("per"), field+".per", "must be a positive period in minutes, hours or days, found %q", cp.Per.Text)
		}
		c.Caps[ch] = Cap{Max: cp.Max, Per: cp.Per.Approx()}
	}
	if m := s.From.Mailbox; m != "" && !mailboxChoiceRE.MatchString(m) {
		d.add(s.From.At.Of("mailbox"), "from.mailbox", "%q: expected owner, pool:NAME or a mailbox id (lowercase letters, digits, '.', '_', '-')", m)
	}
	if s.From.SMS != "" {
		if e164, err := NormalizePhone(s.From.SMS, ""); err != nil || e164 != s.From.SMS {
			d.add(s.From.At.Of("sms"), "from.sms", "%q is not an E.164 number (expected +15551234567)", s.From.SMS)
		}
	}

	// Templates first, so touches can check references and kinds.
	names := make([]string, 0, len(s.Templates))
	for name := range s.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	c.definedTemplates = map[string]bool{}
	for _, name := range names {
		c.definedTemplates[name] = true
	}
	c.templateNames = names
	for _, name := range names {
		ts := s.Templates[name]
		if d.failed("templates." + name) {
			continue // compiling what is left of it would only add noise
		}
		t, probs := templates.Compile(name, templates.Source{Subject: ts.Subject.Text, Text: ts.Text.Text, HTML: ts.HTML.Text, SMS: ts.SMS.Text})
		for _, pr := range probs {
			src := map[templates.Part]Source{templates.PartSubject: ts.Subject, templates.PartText: ts.Text, templates.PartHTML: ts.HTML, templates.PartSMS: ts.SMS}[pr.Part]
			pos := src.Pos
			if pos.Line == 0 {
				pos = ts.At.Of("")
			} else if pr.Line > 1 {
				pos.Line += pr.Line - 1
				pos.Column = 0
			}
			msg, token := templateProblem(pr.Msg)
			if token != "" && src.Pos.Line != 0 {
				pos.Column = d.columnOf(token, pos)
			}
			d.add(pos, "templates."+name+"."+string(pr.Part), "%s", msg)
		}
		if t != nil {
			c.Templates[name] = t
		}
	}
	// Template references are checked only when every template decoded:
	// otherwise a reference to a broken one would read as undefined.
	templatesKnown := !d.failedAt("templates")

	// Stages and touches.
	if len(s.Stages) == 0 && !d.failed("stages") {
		d.add(s.At.Of("stages"), "stages", "a cadence needs at least one stage")
	}
	stageIDsKnown := true
	for i, ss := range s.Stages {
		field := fmt.Sprintf("stages[%d]", i)
		st := &Stage{ID: ss.ID, Name: orDefault(ss.Name, ss.ID), Index: i, Then: orDefault(ss.Then, ThenNext)}
		c.Stages = append(c.Stages, st)
		if d.failedAt(field) || d.failed(field+".id") {
			stageIDsKnown = false
		} else {
			if !idPattern.MatchString(ss.ID) || ss.ID == ThenNext || ss.ID == ThenComplete || ss.ID == ThenExit {
				d.add(ss.At.Of("id"), field+".id", "%q is not a valid stage id (lowercase letters, digits, - and _; not next, complete or exit)", ss.ID)
			}
			if _, dup := c.stageIndex[ss.ID]; dup {
				d.add(ss.At.Of("id"), field+".id", "duplicate stage id %q", ss.ID)
			} else {
				c.stageIndex[ss.ID] = i
			}
		}
		for j, ts := range ss.Touches {
			st.Touches = append(st.Touches, compileTouch(c, st, j, &ts, d, fmt.Sprintf("%s.touches[%d]", field, j), templatesKnown))
		}
	}
	// Rules name stages, so check them once every stage is known. When a
	// stage's id did not decode, a rule naming it is not reported unknown.
	given := stageIDs(s)
	listed := listNames(given)
	targets := append(given[:len(given):len(given)], ThenComplete, ThenExit)
	stageRef := func(pos Pos, field, to string, allowNext bool) {
		if to == ThenComplete || to == ThenExit || (allowNext && to == ThenNext) || d.failed(field) || !stageIDsKnown {
			return
		}
		if _, ok := c.stageIndex[to]; ok {
			return
		}
		cands := targets
		if allowNext {
			cands = append(cands[:len(cands):len(cands)], ThenNext)
		}
		if hint := d.didYouMean(to, cands); hint != "" {
			d.add(pos, field, "unknown stage %q%s", to, hint)
			return
		}
		d.add(pos, field, "unknown stage %q (stages: %s; or complete, exit)", to, listed)
	}
	for i, ss := range s.Stages {
		st := c.Stages[i]
		field := fmt.Sprintf("stages[%d]", i)
		if ss.Then != "" {
			stageRef(ss.At.Of("then"), field+".then", ss.Then, true)
		}
		for j, as := range ss.Advance {
			af := fmt.Sprintf("%s.advance[%d]", field, j)
			r := AdvanceRule{On: Trigger(as.On), After: as.After, Goal: as.Goal, To: as.To}
			if d.failedAt(af) {
				continue
			}
			stageRef(as.At.Of("to"), af+".to", as.To, false)
			if !d.failed(af + ".on") {
				if r.On == OnNoEngagement {
					if as.After.IsZero() && !d.failed(af+".after") {
						d.add(as.At.Of("after"), af+".after", "on: no_engagement needs after: a wait such as 7d")
					}
					if st.NoEngagement != nil {
						d.add(as.At.Of("on"), af+".on", "only one no_engagement rule per stage")
					}
					st.NoEngagement = &r
				} else if _, given := as.At["after"]; given {
					d.add(as.At.Of("after"), af+".after", "after only applies to on: no_engagement")
				}
				if as.Goal != "" && r.On != OnGoal {
					d.add(as.At.Of("goal"), af+".goal", "goal only applies to on: goal")
				}
			}
			st.Advance = append(st.Advance, r)
		}
	}
	c.Reply = ReplyPolicy{Action: ReplyAction(orDefault(s.Reply.Action, string(ReplyWarm))), To: s.Reply.To, AutoReplySnooze: s.Reply.AutoReplySnooze}
	if c.Reply.AutoReplySnooze.IsZero() {
		c.Reply.AutoReplySnooze = Delay{Days: 7, Text: "7d"}
	}
	c.Reply.OutOfOffice = ClassPolicy{Action: ClassSnoozeUntilReturn, Snooze: c.Reply.AutoReplySnooze}
	c.Reply.AutoReply = ClassPolicy{Action: ClassSnooze, Snooze: c.Reply.AutoReplySnooze}
	c.Reply.BounceInDisguise = c.Reply.AutoReply
	c.Reply.NotNow = ClassPolicy{Action: ClassSnoozeUntilDate}
	c.Reply.WrongPerson = ClassPolicy{Action: ClassPause}
	if o := s.Reply.OutOfOffice; o != nil {
		classPolicy(d, &c.Reply.OutOfOffice, "reply.out_of_office", o.Action, o.At, "fallback", o.Fallback)
	}
	if o := s.Reply.AutoReply; o != nil {
		classPolicy(d, &c.Reply.AutoReply, "reply.auto_reply", o.Action, o.At, "for", o.For)
	}
	if o := s.Reply.BounceInDisguise; o != nil {
		classPolicy(d, &c.Reply.BounceInDisguise, "reply.bounce_in_disguise", o.Action, o.At, "for", o.For)
	}
	if o := s.Reply.NotNow; o != nil {
		classPolicy(d, &c.Reply.NotNow, "reply.not_now", o.Action, o.At, "fallback", o.Fallback)
	}
	if o := s.Reply.WrongPerson; o != nil {
		classPolicy(d, &c.Reply.WrongPerson, "reply.wrong_person", o.Action, o.At, "", Delay{})
	}
	if c.Reply.Action == ReplyAdvance {
		if s.Reply.To == "" {
			if !d.failed("reply.to") {
				d.add(s.Reply.At.Of("action"), "reply.to", "action advance needs to: a stage id")
			}
		} else {
			stageRef(s.Reply.At.Of("to"), "reply.to", s.Reply.To, false)
		}
	}
	c.Exits = DefaultExits
	if s.Exit != nil {
		c.Exits = nil
		for _, e := range s.Exit {
			c.Exits = append(c.Exits, ExitRule{On: e.On, Goal: e.Goal})
		}
	}
	for _, st := range c.Stages {
		for _, t := range st.Touches {
			if t.Channel == SMS {
				c.hasSMSTouches = true
			}
		}
	}
	if c.hasSMSTouches && s.From.SMS == "" && s.From.MessagingService == "" && !d.failed("from") {
		d.add(s.From.At.Of(""), "from", "the cadence has SMS touches but from gives neither sms nor messaging_service")
	}
	return c
}

// mailboxChoiceRE is a from.mailbox value; which mailboxes exist is the
// deployment's (NURTURE_MAILBOXES), checked when a touch is sent.
var mailboxChoiceRE = regexp.MustCompile(`^(owner|pool:[a-z0-9][a-z0-9._-]{0,63}|[a-z0-9][a-z0-9._-]{0,63})$`)

// stageIDs lists the stage ids given, each once, in file order.
func stageIDs(s *Spec) []string {
	out := make([]string, 0, len(s.Stages))
	seen := map[string]bool{}
	for _, st := range s.Stages {
		if st.ID != "" && !seen[st.ID] {
			seen[st.ID] = true
			out = append(out, st.ID)
		}
	}
	return out
}

func compileTouch(c *Cadence, st *Stage, j int, ts *TouchSpec, d *decoder, field string, templatesKnown bool) *Touch {
	t := &Touch{ID: ts.ID, Stage: st, Index: j, Channel: Channel(ts.Channel), Delay: ts.Delay,
		FromEntry: ts.DelayFrom == "stage_entry", Thread: ts.Thread, Pos: ts.At.Of("")}
	if d.failedAt(field) {
		return t // not a mapping: reported, nothing to check
	}
	channelOK := !d.failed(field + ".channel")
	if ts.Thread && t.Channel != Email && channelOK && !d.failed(field+".thread") {
		d.add(ts.At.Of("thread"), field+".thread", "only email touches can thread")
	}
	if !d.failed(field + ".id") {
		if !idPattern.MatchString(ts.ID) {
			d.add(ts.At.Of("id"), field+".id", "%q is not a valid touch id (lowercase letters, digits, - and _)", ts.ID)
		}
		if prev, dup := c.touchIndex[ts.ID]; dup {
			d.add(ts.At.Of("id"), field+".id", "duplicate touch id %q (first at %s)", ts.ID, prev.Pos)
		} else {
			c.touchIndex[ts.ID] = t
		}
	}
	if ts.Window != nil {
		w := ts.Window.compile(d, field+".window")
		t.Window = &w
	}
	switch {
	case ts.Template != "" && len(ts.Variants) > 0:
		d.add(ts.At.Of("variants"), field, "give template or variants, not both")
	case ts.Template == "" && len(ts.Variants) == 0:
		if !d.failed(field+".template") && !d.failed(field+".variants") {
			d.add(ts.At.Of(""), field+".template", "a touch needs a template or variants")
		}
	case ts.Template != "":
		t.Variants = []Variant{{ID: "default", Template: ts.Template, Weight: 1}}
		if templatesKnown {
			checkTemplateRef(c, t, ts.Template, ts.At.Of("template"), field+".template", d, channelOK)
		}
	default:
		seen := map[string]bool{}
		for k, vs := range ts.Variants {
			vf := fmt.Sprintf("%s.variants[%d]", field, k)
			if d.failedAt(vf) {
				continue
			}
			w := vs.Weight
			if _, given := vs.At["weight"]; !given {
				w = 1
			}
			if w < 1 && !d.failed(vf+".weight") {
				d.add(vs.At.Of("weight"), vf+".weight", "must be at least 1, found %d", vs.Weight)
			}
			if !d.failed(vf + ".id") {
				if seen[vs.ID] {
					d.add(vs.At.Of("id"), vf+".id", "duplicate variant id %q", vs.ID)
				}
				seen[vs.ID] = true
			}
			if templatesKnown && !d.failed(vf+".template") {
				checkTemplateRef(c, t, vs.Template, vs.At.Of("template"), vf+".template", d, channelOK)
			}
			t.Variants = append(t.Variants, Variant{ID: vs.ID, Template: vs.Template, Weight: max(w, 1)})
		}
	}
	for k, cs := range ts.If {
		cond, err := ParseCondition(cs)
		if err != nil {
			d.add(ts.At.Of(fmt.Sprintf("if[%d]", k)), fmt.Sprintf("%s.if[%d]", field, k), "%v", err)
			continue
		}
		t.Conditions = append(t.Conditions, cond)
	}
	if t.Channel == Email {
		if c.From.Email == "" && c.From.Mailbox == "" && !d.failed("from") {
			d.add(ts.At.Of("channel"), field+".channel", "email touch, but neither from.email nor from.mailbox is set")
		}
		if c.PostalAddress == "" && !d.failed("postal_address") {
			d.add(ts.At.Of("channel"), field+".channel", "email touch, but postal_address is not set (required in every marketing email)")
		}
	}
	return t
}

func checkTemplateRef(c *Cadence, t *Touch, name string, pos Pos, field string, d *decoder, checkKind bool) {
	tmpl, ok := c.Templates[name]
	if !ok {
		if !c.definedTemplates[name] {
			if hint := d.didYouMean(name, c.templateNames); hint != "" {
				d.add(pos, field, "template %q is not defined%s", name, hint)
			} else {
				d.add(pos, field, "template %q is not defined (templates: %s)", name, listNames(c.templateNames))
			}
		}
		// A template that failed to compile is already reported.
		return
	}
	if checkKind && string(tmpl.Kind) != string(t.Channel) {
		d.add(pos, field, "template %q is an %s template, but the touch is %s", name, tmpl.Kind, t.Channel)
	}
}

// Zone returns the location for day arithmetic for a recipient: explicit,
// else the first phone zone, else the cadence default.
func (c *Cadence) ZoneFor(r *Recipient) *time.Location {
	if zones, _ := r.Zones(c, Email); len(zones) > 0 {
		return zones[0]
	}
	return c.Zone
}

// classPolicy fills p, which holds the class's defaults, from its spec:
// the action (already checked against the enum) and the snooze field
// (named wait: for or fallback), which applies only to snoozing actions
// and, when given, must wait.
func classPolicy(d *decoder, p *ClassPolicy, field, action string, at Positions, wait string, w Delay) {
	if action != "" {
		p.Action = ClassAction(action)
	}
	if wait == "" {
		return
	}
	if _, given := at[wait]; !given || d.failed(field+"."+wait) || d.failed(field+".action") {
		return
	}
	switch {
	case p.Action != ClassSnooze && p.Action != ClassSnoozeUntilReturn && p.Action != ClassSnoozeUntilDate:
		d.add(at.Of(wait), field+"."+wait, "%s only applies when action snoozes, not with action %s", wait, p.Action)
	case w.IsZero():
		d.add(at.Of(wait), field+"."+wait, "%s must be a wait such as 7d, not %s", wait, w)
	default:
		p.Snooze = w
	}
}
