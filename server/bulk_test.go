package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/store"
)

type bulkAnswer struct {
	Cadence  string `json:"cadence"`
	Enrolled int    `json:"enrolled"`
	Rejected []struct {
		Row   int    `json:"row"`
		Field string `json:"field"`
		Error string `json:"error"`
	} `json:"rejected"`
	RejectedTotal     int  `json:"rejected_total"`
	RejectedTruncated bool `json:"rejected_truncated"`
}

func (h *harness) bulk(ctype, body string) (int, bulkAnswer, string) {
	h.t.Helper()
	resp, text := h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, ctype, strings.NewReader(body))
	var out bulkAnswer
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			h.t.Fatalf("bulk answer is not JSON: %v: %.300s", err, text)
		}
	}
	return resp.StatusCode, out, text
}

// noProspect fails unless the prospect was never stored.
func (h *harness) noProspect(id string) {
	h.t.Helper()
	if _, err := h.st.Prospect(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("prospect %q was stored (%v)", id, err)
	}
}

func apiErr(t *testing.T, text string) (code, field, msg string) {
	t.Helper()
	var out struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("not an error body: %.300s", text)
	}
	return out.Error.Code, out.Error.Field, out.Error.Message
}

// Bad ids and oversized fields are refused with 400 naming the field on
// every route that takes a prospect, and nothing is stored.
func TestProspectLimitsOverHTTP(t *testing.T) {
	h := newHarness(t)
	bigName := strings.Repeat("a", 10<<20)
	for _, id := range []string{"a/b", "a|b", "a#b", "a?b", "a\x01b", "a b", "x:sends"} {
		resp, text := h.do("PUT", "/v1/prospects/"+url.PathEscape(id), adminToken, "application/json", strings.NewReader(`{"email":"a@example.com"}`))
		if code, field, msg := apiErr(t, text); resp.StatusCode != 400 || code != "invalid_prospect" || field != "id" || !strings.Contains(msg, "is not allowed") {
			t.Errorf("PUT id %q: %d %s", id, resp.StatusCode, text)
		}
		body, _ := json.Marshal(map[string]any{"cadence": "trial", "prospect": map[string]string{"id": id, "email": "a@example.com"}})
		resp, text = h.do("POST", "/v1/enrollments", adminToken, "application/json", strings.NewReader(string(body)))
		if code, field, _ := apiErr(t, text); resp.StatusCode != 400 || code != "invalid_prospect" || field != "prospect.id" {
			t.Errorf("enroll id %q: %d %s", id, resp.StatusCode, text)
		}
		h.noProspect(id)
	}

	resp, text := h.do("PUT", "/v1/prospects/big", adminToken, "application/json", strings.NewReader(`{"email":"big@example.com","first_name":"`+bigName+`"}`))
	if _, field, msg := apiErr(t, text); resp.StatusCode != 400 || field != "first_name" || msg != "first_name: 10485760 bytes, longer than the 200-byte limit" {
		t.Errorf("PUT 10 MB first name: %d %.300s", resp.StatusCode, text)
	}
	resp, text = h.do("POST", "/v1/enrollments", adminToken, "application/json", strings.NewReader(`{"cadence":"trial","prospect":{"id":"big","email":"big@example.com","first_name":"`+bigName+`"}}`))
	if _, field, msg := apiErr(t, text); resp.StatusCode != 400 || field != "prospect.first_name" || !strings.Contains(msg, "200-byte limit") {
		t.Errorf("enroll 10 MB first name: %d %.300s", resp.StatusCode, text)
	}
	h.noProspect("big")
	// Before, a prospect without an address was a 500.
	resp, text = h.do("PUT", "/v1/prospects/none", adminToken, "application/json", strings.NewReader(`{"first_name":"Ann"}`))
	if _, field, _ := apiErr(t, text); resp.StatusCode != 400 || field != "email" {
		t.Errorf("PUT without an address: %d %s", resp.StatusCode, text)
	}
	resp, text = h.do("PUT", "/v1/prospects/attrs", adminToken, "application/json", strings.NewReader(`{"email":"at@example.com","attr":{"blurb":"`+strings.Repeat("x", 1001)+`"}}`))
	if _, field, msg := apiErr(t, text); resp.StatusCode != 400 || field != "attr.blurb" || !strings.Contains(msg, "1000-byte limit") {
		t.Errorf("PUT long attribute: %d %.300s", resp.StatusCode, text)
	}

	// Bulk: every bad row is rejected by line, naming the field; the good
	// rows around them are enrolled.
	csv := "id,email,first_name\n" +
		"a/b,ab@example.com,Ann\n" +
		"a|b,ap@example.com,Ann\n" +
		"a#b,ah@example.com,Ann\n" +
		"a\x01b,ac@example.com,Ann\n" +
		"big,big@example.com," + bigName + "\n" +
		",ok@example.com,Ok\n"
	code, out, text := h.bulk("text/csv", csv)
	if code != 200 || out.Enrolled != 1 || len(out.Rejected) != 5 {
		t.Fatalf("bulk CSV: %d %.1000s", code, text)
	}
	for i, want := range []string{"id", "id", "id", "id", "first_name"} {
		if r := out.Rejected[i]; r.Row != i+2 || r.Field != want {
			t.Errorf("bulk CSV rejection %d: %+v, want row %d field %s", i, r, i+2, want)
		}
	}
	if !strings.Contains(out.Rejected[4].Error, "10485760 bytes, longer than the 200-byte limit") {
		t.Errorf("bulk CSV 10 MB first name: %q", out.Rejected[4].Error)
	}
	if len(text) > 10<<10 {
		t.Errorf("the answer echoes the rejected values: %d bytes", len(text))
	}
	h.noProspect("big")
	h.prospect("ok@example.com")
	nd := `{"id":"n/1","email":"n1@example.com"}` + "\n" + `{"id":"n2","email":"n2@example.com","attr":{"plan type":"pro"}}` + "\n" + `{"id":"n3","email":"n3@example.com"}` + "\n"
	code, out, text = h.bulk("application/x-ndjson", nd)
	if code != 200 || out.Enrolled != 1 || len(out.Rejected) != 2 || out.Rejected[0].Field != "id" || out.Rejected[1].Row != 2 || out.Rejected[1].Field != "attr" {
		t.Fatalf("bulk NDJSON: %d %s", code, text)
	}
}
