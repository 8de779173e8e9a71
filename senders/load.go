package senders

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
)

// MaxFileSize bounds a mailboxes file.
const MaxFileSize = 1 << 20

// Defaults of Brakes.
const (
	DefaultBrakeWindow   = 200
	DefaultBounceRate    = 0.05
	DefaultComplaintRate = 0.003
)

// LoadFile reads and validates a mailboxes file. Secrets are named by
// environment variable (password_env) and read through env; a plain
// password in the file is refused. Every problem is reported at once as a
// *cadence.ValidationError: file:line:column: field: message.
func LoadFile(path string, env func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b, env)
}

// idRE is what mailbox, relay and pool ids look like: they end up in Redis
// key names, metric labels and URLs.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Parse validates a mailboxes file's content; file names it in errors.
func Parse(file string, src []byte, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	p := &parser{file: file, env: env}
	if len(src) > MaxFileSize {
		return nil, &cadence.ValidationError{Problems: []*cadence.FieldError{{Pos: cadence.Pos{File: file}, Msg: fmt.Sprintf("%d bytes, over the %d-byte limit", len(src), MaxFileSize)}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, &cadence.ValidationError{Source: src, Problems: []*cadence.FieldError{cadence.SyntaxProblem(file, src, err)}}
	}
	c := &Config{File: file, Relays: map[string]*Relay{}, RecipientDomains: map[string]Limits{}, SendingDomains: map[string]Limits{},
		Brakes: Brakes{Window: DefaultBrakeWindow, BounceRate: DefaultBounceRate, ComplaintRate: DefaultComplaintRate},
		byID:   map[string]*Mailbox{}, byOwner: map[string]*Mailbox{}, pools: map[string][]*Mailbox{}}
	if len(root.Content) == 0 {
		p.add(&root, "", "the file is empty: expected mailboxes:")
		return nil, p.err(src)
	}
	doc := root.Content[0]
	var mailboxes *yaml.Node
	p.mapping(doc, "", func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "relays":
			p.mapping(v, field, func(k, v *yaml.Node, field string) { p.relay(c, k, v, field) })
		case "mailboxes":
			mailboxes = v
		case "recipient_domains":
			p.mapping(v, field, func(k, v *yaml.Node, field string) {
				l := p.limits(v, field)
				if k.Value == "default" {
					c.DefaultRecipient = l
					return
				}
				c.RecipientDomains[strings.ToLower(k.Value)] = l
			})
		case "sending_domains":
			p.mapping(v, field, func(k, v *yaml.Node, field string) { c.SendingDomains[strings.ToLower(k.Value)] = p.limits(v, field) })
		case "brakes":
			p.mapping(v, field, func(k, v *yaml.Node, field string) {
				switch k.Value {
				case "window":
					c.Brakes.Window = p.count(v, field, 1)
				case "bounce_rate":
					c.Brakes.BounceRate = p.rate(v, field)
				case "complaint_rate":
					c.Brakes.ComplaintRate = p.rate(v, field)
				default:
					p.unknown(k, field, "window", "bounce_rate", "complaint_rate")
				}
			})
		default:
			p.unknown(k, field, "relays", "mailboxes", "recipient_domains", "sending_domains", "brakes")
		}
	})
	if mailboxes == nil && len(p.problems) == 0 {
		p.add(doc, "mailboxes", "required: at least one mailbox")
	}
	if mailboxes != nil {
		p.mapping(mailboxes, "mailboxes", func(k, v *yaml.Node, field string) { p.mailbox(c, k, v, field) })
	}
	if err := p.err(src); err != nil {
		return nil, err
	}
	return c, nil
}

type parser struct {
	file     string
	env      func(string) string
	problems []*cadence.FieldError
}

func (p *parser) pos(n *yaml.Node) cadence.Pos {
	return cadence.Pos{File: p.file, Line: n.Line, Column: n.Column}
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	p.problems = append(p.problems, &cadence.FieldError{Pos: p.pos(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) err(src []byte) error {
	if len(p.problems) == 0 {
		return nil
	}
	sort.SliceStable(p.problems, func(i, j int) bool {
		a, b := p.problems[i].Pos, p.problems[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	return &cadence.ValidationError{Problems: p.problems, Source: src}
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// mapping calls f for each key of a mapping node, in order.
func (p *parser) mapping(n *yaml.Node, field string, f func(k, v *yaml.Node, field string)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, field, "expected a mapping, found %s", kind(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.add(k, join(field, k.Value), "given twice")
			continue
		}
		seen[k.Value] = true
		f(k, v, join(field, k.Value))
	}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func (p *parser) unknown(k *yaml.Node, field string, known ...string) {
	p.add(k, field, "unknown field; expected one of %s", strings.Join(known, ", "))
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.add(n, field, "expected text, found %s", kind(n))
		return ""
	}
	return n.Value
}

func (p *parser) count(n *yaml.Node, field string, min int) int {
	v, err := strconv.Atoi(p.str(n, field))
	if n.Kind == yaml.ScalarNode && (err != nil || v < min) {
		p.add(n, field, "%q: expected a whole number of at least %d", n.Value, min)
		return 0
	}
	return v
}

// rate reads "5%" or 0.05.
func (p *parser) rate(n *yaml.Node, field string) float64 {
	s := p.str(n, field)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		v /= 100
	}
	if n.Kind == yaml.ScalarNode && (err != nil || v <= 0 || v >= 1) {
		p.add(n, field, "%q: expected a rate between 0 and 1, e.g. 5%% or 0.05", s)
		return 0
	}
	return v
}

func (p *parser) list(n *yaml.Node, field string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "expected a list, found %s", kind(n))
		return nil
	}
	var out []string
	for i, e := range n.Content {
		if s := p.str(e, fmt.Sprintf("%s[%d]", field, i)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) limits(n *yaml.Node, field string) Limits {
	var l Limits
	p.mapping(n, field, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "per_minute":
			l.PerMinute = p.count(v, field, 1)
		case "per_hour":
			l.PerHour = p.count(v, field, 1)
		case "per_day":
			l.PerDay = p.count(v, field, 1)
		default:
			p.unknown(k, field, "per_minute", "per_hour", "per_day")
		}
	})
	return l
}

func (p *parser) id(k *yaml.Node, field, what string) bool {
	if !idRE.MatchString(k.Value) {
		p.add(k, field, "%s id %q: use 1-64 lowercase letters, digits, '.', '_' and '-'", what, k.Value)
		return false
	}
	return true
}

// secret reads a *_env field: the variable must be set.
func (p *parser) secret(n *yaml.Node, field string) string {
	name := p.str(n, field)
	if name == "" {
		return ""
	}
	v := p.env(name)
	if v == "" {
		p.add(n, field, "environment variable %s is not set", name)
	}
	return v
}

func (p *parser) relay(c *Config, k, v *yaml.Node, field string) {
	if !p.id(k, field, "relay") {
		return
	}
	r := &Relay{ID: k.Value, Pos: p.pos(k)}
	p.mapping(v, field, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "host":
			r.SMTP.Host = p.str(v, field)
		case "port":
			r.SMTP.Port = p.count(v, field, 1)
		case "tls":
			r.SMTP.TLS = p.str(v, field)
			if !slices.Contains([]string{"starttls", "mandatory", "tls", "none"}, r.SMTP.TLS) {
				p.add(v, field, "%q: expected starttls, mandatory, tls or none", r.SMTP.TLS)
			}
		case "username":
			r.SMTP.Username = p.str(v, field)
		case "username_env":
			r.SMTP.Username = p.secret(v, field)
		case "password":
			p.add(k, field, "a password is not written in this file; put it in an environment variable and name it with password_env")
		case "password_env":
			r.SMTP.Password = p.secret(v, field)
		case "connections":
			r.SMTP.Connections = p.count(v, field, 1)
		case "helo":
			r.SMTP.HELO = p.str(v, field)
		case "limits":
			r.Limits = p.limits(v, field)
		default:
			p.unknown(k, field, "host", "port", "tls", "username", "username_env", "password_env", "connections", "helo", "limits")
		}
	})
	if r.SMTP.Host == "" {
		p.add(k, join(field, "host"), "required")
	}
	c.Relays[r.ID] = r
}

func (p *parser) mailbox(c *Config, k, v *yaml.Node, field string) {
	if !p.id(k, field, "mailbox") {
		return
	}
	m := &Mailbox{ID: k.Value, Pos: p.pos(k), Zone: time.UTC}
	var relayNode *yaml.Node
	p.mapping(v, field, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "address":
			m.Address = strings.TrimSpace(p.str(v, field))
			if m.Address != "" && (strings.Count(m.Address, "@") != 1 || strings.ContainsAny(m.Address, " <>\",;") || strings.HasPrefix(m.Address, "@") || strings.HasSuffix(m.Address, "@")) {
				p.add(v, field, "%q is not an email address (give the display name in name:)", m.Address)
			}
		case "name":
			m.Name = p.str(v, field)
		case "owners":
			for _, o := range p.list(v, field) {
				m.Owners = append(m.Owners, strings.ToLower(o))
			}
		case "pools":
			for i, name := range p.list(v, field) {
				if !idRE.MatchString(name) {
					p.add(v, fmt.Sprintf("%s[%d]", field, i), "pool %q: use lowercase letters, digits, '.', '_' and '-'", name)
					continue
				}
				m.Pools = append(m.Pools, name)
			}
		case "relay":
			m.Relay, relayNode = p.str(v, field), v
		case "time_zone":
			loc, err := time.LoadLocation(p.str(v, field))
			if err != nil || v.Value == "" || v.Value == "Local" {
				p.add(v, field, "%q is not an IANA time zone (e.g. America/New_York)", v.Value)
			} else {
				m.Zone = loc
			}
		case "limits":
			m.Limits = p.limits(v, field)
		case "warmup":
			m.Warmup = p.warmup(v, field)
		default:
			p.unknown(k, field, "address", "name", "owners", "pools", "relay", "time_zone", "limits", "warmup")
		}
	})
	if m.Address == "" {
		p.add(k, join(field, "address"), "required")
	}
	if relayNode != nil && m.Relay != "" && c.Relays[m.Relay] == nil {
		p.add(relayNode, join(field, "relay"), "relay %q is not defined under relays:", m.Relay)
	}
	if m.Warmup != nil && m.Limits.PerDay == 0 {
		p.add(k, join(field, "limits.per_day"), "a warm-up ramps up to per_day: set it")
	}
	for _, o := range m.Owners {
		if prev := c.byOwner[o]; prev != nil {
			p.add(k, join(field, "owners"), "owner %q already has mailbox %s (%s); a rep sends from one mailbox", o, prev.ID, prev.Pos)
			continue
		}
		c.byOwner[o] = m
	}
	for _, pool := range m.Pools {
		c.pools[pool] = append(c.pools[pool], m)
	}
	c.byID[m.ID] = m
	c.Mailboxes = append(c.Mailboxes, m)
}

func (p *parser) warmup(n *yaml.Node, field string) *Warmup {
	w := &Warmup{Growth: 0.10}
	var since bool
	p.mapping(n, field, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "start":
			w.Start = p.count(v, field, 1)
		case "growth":
			w.Growth = p.rate(v, field)
		case "since":
			t, err := time.Parse(time.DateOnly, p.str(v, field))
			if err != nil {
				p.add(v, field, "%q: expected a date YYYY-MM-DD (the mailbox's first day)", v.Value)
			}
			w.Since, since = t, err == nil
		default:
			p.unknown(k, field, "start", "growth", "since")
		}
	})
	if w.Start == 0 {
		p.add(n, join(field, "start"), "required: sends on the first day, e.g. 20")
	}
	if !since {
		p.add(n, join(field, "since"), "required: the mailbox's first day, YYYY-MM-DD")
	}
	return w
}

// SMTPFor returns the SMTP settings of a relay on top of base (the default
// relay's settings, SMTP_*): unset fields are inherited.
func (r *Relay) SMTPFor(base channels.SMTPConfig) channels.SMTPConfig {
	c := r.SMTP
	if c.Port == 0 {
		c.Port = base.Port
	}
	if c.TLS == "" {
		c.TLS = base.TLS
	}
	if c.Connections == 0 {
		c.Connections = base.Connections
	}
	if c.HELO == "" {
		c.HELO = base.HELO
	}
	c.Timeout, c.InsecureSkipVerify, c.DKIM = base.Timeout, base.InsecureSkipVerify, base.DKIM
	return c
}
