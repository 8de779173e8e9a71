package cadence

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// This file decodes a yaml.Node tree into the spec structs by reflection,
// so that one struct definition drives decoding, error positions and the
// published JSON Schema. Unlike yaml.Decoder it reports every problem at
// once, each with line and column, and never stops at the first.

// Positions records where each field of a decoded mapping was written,
// keyed by its YAML name; "" is the mapping itself.
type Positions map[string]Pos

// Of returns the position of the named field, or of the mapping when the
// field was not written.
func (p Positions) Of(field string) Pos {
	if pos, ok := p[field]; ok {
		return pos
	}
	return p[""]
}

// nodeDecoder is implemented by scalar types that parse themselves (delays,
// clock times, zones). They report problems through the decoder.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, field string)
}

type decoder struct {
	file  string
	lines []string // the source, to place template problems on their line
	problems
	depth int
	// bad holds the field paths that did not decode (wrong type, bad
	// value, missing, misspelled), so the semantic checks that would read
	// their zero value instead can skip them: every problem is reported
	// once, at its cause.
	bad, badUnder map[string]bool
	suggestCost   int // spent of suggestBudget
}

// markBad records that the value at path is not usable.
func (d *decoder) markBad(path string) {
	if d.bad == nil {
		d.bad, d.badUnder = map[string]bool{}, map[string]bool{}
	}
	d.bad[path] = true
	// Every enclosing path ("stages[0].touches[1]", "stages[0]", "stages")
	// has something bad under it.
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '.' || path[i] == '[' {
			if d.badUnder[path[:i]] {
				break // and so do its ancestors
			}
			d.badUnder[path[:i]] = true
		}
	}
	d.badUnder[""] = true
}

// failedAt reports whether the value at path itself did not decode.
func (d *decoder) failedAt(path string) bool { return d.bad[path] }

// failed reports whether the value at path, or anything inside it, did not
// decode.
func (d *decoder) failed(path string) bool { return d.bad[path] || d.badUnder[path] }

var (
	positionsType   = reflect.TypeOf(Positions(nil))
	posType         = reflect.TypeOf(Pos{})
	nodeDecoderType = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
)

const maxDepth = 64

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.add(d.pos(n), field, format, args...)
	d.markBad(field)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

// decode fills v (a pointer target) from n. field is the dotted path used in
// error messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, field string) {
	if d.depth > maxDepth {
		d.fail(n, field, "nesting deeper than %d levels", maxDepth)
		return
	}
	d.depth++
	defer func() { d.depth-- }()

	if n.Kind == yaml.AliasNode {
		d.fail(n, field, "YAML aliases are not supported; write the value out")
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, field)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), field)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, field)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, field, "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", field, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, field, "expected a mapping, found %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.fail(k, field, "expected a plain key, found %s", kindName(k))
				continue
			}
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k, field+"."+k.Value, "duplicate key %q", k.Value)
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, field+"."+k.Value)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	case reflect.String:
		if !d.scalar(n, field) {
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		if !d.scalar(n, field) {
			return
		}
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			d.fail(n, field, "expected a whole number, found %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if !d.scalar(n, field) {
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			d.fail(n, field, "expected a number, found %q", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if !d.scalar(n, field) {
			return
		}
		b, ok := parseBool(n.Value)
		if !ok {
			d.fail(n, field, "expected true or false, found %q", n.Value)
			return
		}
		v.SetBool(b)
	default:
		d.fail(n, field, "internal: cannot decode into %s", v.Type())
	}
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// scalar reports whether n is a non-null scalar, recording a problem if not.
func (d *decoder) scalar(n *yaml.Node, field string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.fail(n, field, "expected a single value, found %s", kindName(n))
		return false
	}
	return true
}

// specField describes one YAML field of a spec struct.
type specField struct {
	name     string
	index    int
	required bool
	enum     []string
	desc     string
}

func specFields(t reflect.Type) []specField {
	var out []specField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		sf := specField{name: name, index: i, required: f.Tag.Get("required") == "true", desc: f.Tag.Get("desc")}
		if e := f.Tag.Get("enum"); e != "" {
			sf.enum = strings.Split(e, ",")
		}
		out = append(out, sf)
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, field, "expected a mapping, found %s", kindName(n))
		return
	}
	t := v.Type()
	fields := specFields(t)
	byName := make(map[string]specField, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	positions := Positions{"": d.pos(n)}
	seen := make(map[string]bool)
	// misspelt holds the fields an unknown key is a likely typo of: that
	// field is not reported missing, and checks that need it skip it.
	misspelt := make(map[string]bool)
	var absent []string // suggestions for an unknown key: fields not given
	for _, name := range names {
		given := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			given = given || n.Content[i].Value == name
		}
		if !given {
			absent = append(absent, name)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		path := joinField(field, k.Value)
		f, ok := byName[k.Value]
		if !ok {
			if s, close := Suggest(k.Value, absent); close {
				d.fail(k, path, "unknown field; did you mean %s?", s)
				misspelt[s] = true
				d.markBad(joinField(field, s))
			} else {
				d.fail(k, path, "unknown field (expected one of: %s)", strings.Join(names, ", "))
			}
			continue
		}
		if seen[k.Value] {
			d.fail(k, path, "field %q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		positions[k.Value] = d.pos(val)
		if val.Kind == yaml.SequenceNode {
			// Items too, as "if[0]", for checks on single items.
			for j, item := range val.Content {
				positions[fmt.Sprintf("%s[%d]", k.Value, j)] = d.pos(item)
			}
		}
		if f.enum != nil {
			if val.Kind != yaml.ScalarNode || !contains(f.enum, val.Value) {
				hint := ""
				if val.Kind == yaml.ScalarNode {
					hint = d.didYouMean(val.Value, f.enum)
				}
				d.fail(val, path, "found %s, expected one of: %s%s", kindName(val), strings.Join(f.enum, ", "), hint)
				continue
			}
		}
		if val.Tag == "!!null" && val.Kind == yaml.ScalarNode {
			// An explicit null leaves the zero value, like an omitted field.
			if f.required {
				d.fail(val, path, "is required and may not be empty")
			}
			continue
		}
		d.decode(val, v.Field(f.index), path)
	}
	for _, f := range fields {
		if f.required && !seen[f.name] && !misspelt[f.name] {
			d.fail(n, joinField(field, f.name), "required field %q is missing", f.name)
		}
	}
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Type {
		case positionsType:
			v.Field(i).Set(reflect.ValueOf(positions))
		case posType:
			v.Field(i).Set(reflect.ValueOf(d.pos(n)))
		}
	}
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
