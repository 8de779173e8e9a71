package cadence

import (
	"encoding/json"
	"reflect"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of the cadence file
// format, generated from the same structs the loader decodes into, so the
// two cannot drift apart.
func JSONSchema() []byte {
	root := schemaFor(reflect.TypeOf(Spec{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://nurture.dev/schema/cadence.json"
	root["title"] = "Nurture cadence"
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only plain maps and strings: cannot fail
	}
	return append(out, '\n')
}

var delayPattern = `^\s*(0|now|(\d+\s*(business\s+days?|bd|weeks?|w|days?|d|hours?|h|minutes?|mins?|m|seconds?|s)\s*)+)\s*$`

var scalarSchemas = map[reflect.Type]map[string]any{
	reflect.TypeOf(Delay{}):    {"type": "string", "pattern": delayPattern, "examples": []string{"0", "30m", "2h", "3d", "1w", "2 business days"}},
	reflect.TypeOf(Clock(0)):   {"type": "string", "pattern": `^([01]\d|2[0-3]):[0-5]\d$|^24:00$`},
	reflect.TypeOf(Zone{}):     {"type": "string", "description": "IANA time zone, e.g. America/Chicago"},
	reflect.TypeOf(Date{}):     {"type": "string", "format": "date"},
	reflect.TypeOf(Source{}):   {"type": "string", "description": "Go template text"},
	reflect.TypeOf(Weekdays{}): {"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": `^(mon|tue|wed|thu|fri|sat|sun)[a-z]*(-(mon|tue|wed|thu|fri|sat|sun)[a-z]*)?$|^(weekdays|weekends|everyday|daily|all)$`}}}},
}

func schemaFor(t reflect.Type) map[string]any {
	if s, ok := scalarSchemas[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaFor(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaFor(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaFor(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for _, f := range specFields(t) {
			p := map[string]any{}
			for k, v := range schemaFor(t.Field(f.index).Type) {
				p[k] = v
			}
			if f.desc != "" {
				p["description"] = f.desc
			}
			if f.enum != nil {
				p["enum"] = f.enum
			}
			props[f.name] = p
			if f.required {
				required = append(required, f.name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}
