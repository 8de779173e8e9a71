package cadence_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

func TestJSONSchemaCoversTheFormat(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(cadence.JSONSchema(), &s); err != nil {
		t.Fatal(err)
	}
	props := s["properties"].(map[string]any)
	for _, k := range []string{"id", "name", "timezone", "from", "stages", "templates", "send_window", "sms_quiet_hours", "frequency_caps", "reply", "exit", "holidays"} {
		if _, ok := props[k]; !ok {
			t.Errorf("schema lacks %q", k)
		}
	}
	touch := props["stages"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["touches"].(map[string]any)["items"].(map[string]any)
	if ch := touch["properties"].(map[string]any)["channel"].(map[string]any)["enum"]; len(ch.([]any)) != 2 {
		t.Errorf("channel enum: %v", ch)
	}
	if touch["additionalProperties"] != false {
		t.Error("unknown touch fields must be rejected by the schema too")
	}
	// The committed copy for editors must match.
	committed, err := os.ReadFile("../docs/cadence.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != string(cadence.JSONSchema()) {
		t.Error("docs/cadence.schema.json is stale: run go run ./cmd/nurture schema > docs/cadence.schema.json")
	}
}
