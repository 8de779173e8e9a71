package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/server"
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

// nothingEnrolled fails if the trial cadence has any enrollment.
func (h *harness) nothingEnrolled() {
	h.t.Helper()
	ids, err := h.st.CadenceEnrollments(context.Background(), "trial")
	if err != nil {
		h.t.Fatal(err)
	}
	stats, err := h.e.Stats(context.Background(), "trial")
	if err != nil {
		h.t.Fatal(err)
	}
	if len(ids) != 0 || stats["enrolled"] != 0 {
		h.t.Fatalf("%d enrollments (counter %d), want none", len(ids), stats["enrolled"])
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

	// A JSON body over server.MaxJSONBody is a 413 (TestJSONBodyOverTheLimitIs413);
	// under it, the field limit answers.
	jsonBig := strings.Repeat("a", 512<<10)
	resp, text := h.do("PUT", "/v1/prospects/big", adminToken, "application/json", strings.NewReader(`{"email":"big@example.com","first_name":"`+jsonBig+`"}`))
	if _, field, msg := apiErr(t, text); resp.StatusCode != 400 || field != "first_name" || msg != "first_name: 524288 bytes, longer than the 200-byte limit" {
		t.Errorf("PUT 512 KiB first name: %d %.300s", resp.StatusCode, text)
	}
	resp, text = h.do("POST", "/v1/enrollments", adminToken, "application/json", strings.NewReader(`{"cadence":"trial","prospect":{"id":"big","email":"big@example.com","first_name":"`+jsonBig+`"}}`))
	if _, field, msg := apiErr(t, text); resp.StatusCode != 400 || field != "prospect.first_name" || !strings.Contains(msg, "200-byte limit") {
		t.Errorf("enroll 512 KiB first name: %d %.300s", resp.StatusCode, text)
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
	if code != 200 || out.Enrolled != 1 || out.RejectedTotal != 5 || len(out.Rejected) != 5 || out.RejectedTruncated {
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
	// A CSV column no attribute can be named after is refused up front.
	resp, text = h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "text/csv", strings.NewReader("email,Plan Type\nz@example.com,pro\n"))
	if code, field, msg := apiErr(t, text); resp.StatusCode != 400 || code != "bad_csv" || field != "attr" || !strings.Contains(msg, `column 2: attr "plan type"`) {
		t.Fatalf("bad attribute column: %d %s", resp.StatusCode, text)
	}
	h.noProspect("z@example.com")
}

// csvRows writes a header and n rows of good prospects, tag-numbered.
func csvRows(tag string, n int) string {
	var b strings.Builder
	b.WriteString("email,first_name,plan\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s%d@example.com,Ann,pro\n", tag, i)
	}
	return b.String()
}

func TestBulkOverLimitWithContentLength(t *testing.T) {
	h := newHarness(t)
	const limit = 64 << 10
	defer server.SetBulkLimit(server.SetBulkLimit(limit))
	body := csvRows("cl", 3000) // about 80 KB
	if len(body) <= limit {
		t.Fatalf("body is only %d bytes", len(body))
	}
	resp, text := h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "text/csv", strings.NewReader(body))
	if code, _, msg := apiErr(t, text); resp.StatusCode != 413 || code != "body_too_large" || !strings.Contains(msg, "larger than the 64 KiB bulk limit") || !strings.Contains(msg, "split it") {
		t.Fatalf("%d %s", resp.StatusCode, text)
	}
	h.nothingEnrolled()
	h.noProspect("cl0@example.com")

	// With Expect: 100-continue the client sends no body until told to:
	// the 413 comes from the Content-Length alone.
	req, _ := http.NewRequest("POST", h.url+"/v1/enrollments/bulk?cadence=trial", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Expect", "100-continue")
	counted := &countingReader{r: strings.NewReader(body)}
	req.Body = io.NopCloser(counted)
	req.ContentLength = int64(len(body))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	r2, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 || counted.n.Load() != 0 {
		t.Fatalf("with Expect: %d, %d body bytes sent", r2.StatusCode, counted.n.Load())
	}
	h.nothingEnrolled()

	// At the limit exactly it is taken (the last value padded with
	// spaces, which are trimmed).
	exact := body[:strings.LastIndexByte(body[:limit], '\n')]
	exact += strings.Repeat(" ", limit-len(exact)-1) + "\n"
	if len(exact) != limit {
		t.Fatalf("exact body is %d bytes", len(exact))
	}
	code, out, text := h.bulk("text/csv", exact)
	if code != 200 || out.Enrolled != strings.Count(exact, "\n")-1 || out.RejectedTotal != 0 {
		t.Fatalf("a body at the limit: %d %.500s", code, text)
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Without a Content-Length (chunked) the body is counted as it comes; past
// the limit nothing is enrolled, not even the rows before it.
func TestBulkOverLimitChunked(t *testing.T) {
	h := newHarness(t)
	// 64 KiB stays in memory while it is read; 3 MiB goes to a file.
	for _, limit := range []int{64 << 10, 3 << 20} {
		prev := server.SetBulkLimit(int64(limit))
		for _, over := range []int{1, 200 << 10, 4 << 20} {
			tag := fmt.Sprintf("ch%d-%d-", limit, over)
			pr, pw := io.Pipe()
			go func() {
				// Good rows until `over` bytes past the limit.
				w := bufio.NewWriterSize(pw, 4096)
				n, _ := w.WriteString("email,first_name\n")
				for i := 0; n < limit+over; i++ {
					k, err := fmt.Fprintf(w, "%s%d@example.com,Ann\n", tag, i)
					if err != nil {
						pw.CloseWithError(err)
						return
					}
					n += k
				}
				pw.CloseWithError(w.Flush())
			}()
			req, _ := http.NewRequest("POST", h.url+"/v1/enrollments/bulk?cadence=trial", pr)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "text/csv")
			if req.ContentLength != 0 {
				t.Fatalf("the request has a Content-Length (%d)", req.ContentLength)
			}
			resp, err := http.DefaultClient.Do(req)
			pr.Close()
			if err != nil {
				// The server may close the connection on a client still
				// sending far past the limit; the store must still be empty.
				t.Logf("limit %d, %d bytes over: %v", limit, over, err)
			} else {
				text, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if code, _, msg := apiErr(t, string(text)); resp.StatusCode != 413 || code != "body_too_large" || !strings.Contains(msg, "larger than the "+map[int]string{64 << 10: "64 KiB", 3 << 20: "3 MiB"}[limit]+" bulk limit") {
					t.Fatalf("limit %d, %d bytes over: %d %s", limit, over, resp.StatusCode, text)
				}
			}
			h.nothingEnrolled()
			h.noProspect(tag + "0@example.com")
		}
		server.SetBulkLimit(prev)
	}
}

// 5,000 bad rows: the first 1,000 are listed, all are counted, and the
// answer stays small.
func TestBulkRejectionsAreCapped(t *testing.T) {
	h := newHarness(t)
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "bad-%d-%s,Ann\n", i, strings.Repeat("x", 100))
	}
	code, out, text := h.bulk("text/csv", b.String())
	if code != 200 || out.Enrolled != 0 || out.RejectedTotal != 5000 || len(out.Rejected) != 1000 || !out.RejectedTruncated {
		t.Fatalf("%d enrolled %d total %d listed %d truncated %v", code, out.Enrolled, out.RejectedTotal, len(out.Rejected), out.RejectedTruncated)
	}
	for i, r := range out.Rejected {
		if r.Row != i+2 || r.Field != "email" {
			t.Fatalf("rejection %d: %+v", i, r)
		}
	}
	if len(text) > 300<<10 {
		t.Errorf("answer is %d bytes", len(text))
	}
	// Few rejections: not truncated, total equals the list.
	code, out, _ = h.bulk("text/csv", "email\nbad\nok1@example.com\n")
	if code != 200 || out.Enrolled != 1 || out.RejectedTotal != 1 || len(out.Rejected) != 1 || out.RejectedTruncated {
		t.Fatalf("one bad row: %d %+v", code, out)
	}
	code, _, text = h.bulk("text/csv", "email\nok2@example.com\n")
	if code != 200 || !strings.Contains(text, `"rejected": []`) || !strings.Contains(text, `"rejected_total": 0`) || !strings.Contains(text, `"rejected_truncated": false`) {
		t.Fatalf("no bad rows: %d %s", code, text)
	}
}

// Good and bad rows across several 1,000-row chunks: exact counts, and each
// rejection by its line in the body, even after a record that spans two
// lines and a record with bad quoting.
func TestBulkMixedAcrossChunkBoundaries(t *testing.T) {
	h := newHarness(t)
	var b strings.Builder
	b.WriteString("email,first_name,plan\n")
	line := 1
	var wantRows []int
	wantFields := map[int]string{}
	good := 0
	const n = 3600
	for i := 0; i < n; i++ {
		line++
		switch {
		case i == 999 || i == 1000 || i == 1999 || i == 2000 || i == 2001 || i == n-1:
			fmt.Fprintf(&b, "bad%d,Ann,pro\n", i)
			wantRows, wantFields[line] = append(wantRows, line), "email"
		case i == 1500:
			// Text after a closing quote: the CSV reader refuses the
			// record, reading goes on at the next line.
			fmt.Fprintf(&b, "q%d@example.com,\"Ann\"x,pro\n", i)
			wantRows, wantFields[line] = append(wantRows, line), ""
		case i == 1200:
			// One record over two lines (a quoted line break).
			fmt.Fprintf(&b, "m%d@example.com,Ann,\"pro\nplus\"\n", i)
			line++
			good++
		case i == 2500:
			fmt.Fprintf(&b, "a%d@example.com,%s,pro\n", i, strings.Repeat("n", 201))
			wantRows, wantFields[line] = append(wantRows, line), "first_name"
		default:
			fmt.Fprintf(&b, "g%d@example.com,Ann,pro\n", i)
			good++
		}
	}
	code, out, text := h.bulk("text/csv", b.String())
	if code != 200 || out.Enrolled != good || out.RejectedTotal != len(wantRows) || len(out.Rejected) != len(wantRows) {
		t.Fatalf("%d: enrolled %d (want %d), rejected %d (want %d): %.2000s", code, out.Enrolled, good, out.RejectedTotal, len(wantRows), text)
	}
	for i, r := range out.Rejected {
		if r.Row != wantRows[i] || r.Field != wantFields[r.Row] {
			t.Errorf("rejection %d: %+v, want row %d field %q", i, r, wantRows[i], wantFields[wantRows[i]])
		}
	}
	if r := out.Rejected[2]; !strings.Contains(r.Error, "extraneous or missing \" in quoted-field") {
		t.Errorf("bad quoting: %+v", r)
	}
	if p := h.prospect("m1200@example.com"); p.Attr["plan"] != "pro\nplus" {
		t.Errorf("two-line record: %+v", p)
	}
	if p := h.prospect(fmt.Sprintf("g%d@example.com", n-2)); p.FirstName != "Ann" || p.Attr["plan"] != "pro" {
		t.Errorf("last good row: %+v", p)
	}
	h.noProspect("q1500@example.com")
	ids, _ := h.st.CadenceEnrollments(context.Background(), "trial")
	if len(ids) != good {
		t.Errorf("%d enrollments stored, %d reported", len(ids), good)
	}

	// JSON lines: blank lines count, a line over 1 MiB and malformed JSON
	// are rejected and reading goes on.
	var nd strings.Builder
	var ndRows []int
	ndGood := 0
	for ln := 1; ln <= 2600; ln++ {
		switch {
		case ln%500 == 0:
			nd.WriteString("\n")
		case ln == 1001:
			nd.WriteString(`{"id":"j` + strconv.Itoa(ln) + `","email":` + "\n")
			ndRows = append(ndRows, ln)
		case ln == 1700:
			fmt.Fprintf(&nd, `{"id":"j%d","email":"j%d@example.com","first_name":"%s"}`+"\n", ln, ln, strings.Repeat("a", 1<<20))
			ndRows = append(ndRows, ln)
		case ln == 2600:
			fmt.Fprintf(&nd, `{"id":"j%d","email":"j%d@example.com"}`, ln, ln) // no final newline
			ndGood++
		default:
			fmt.Fprintf(&nd, `{"id":"j%d","email":"j%d@example.com"}`+"\n", ln, ln)
			ndGood++
		}
	}
	code, out, text = h.bulk("application/x-ndjson", nd.String())
	if code != 200 || out.Enrolled != ndGood || len(out.Rejected) != 2 || out.Rejected[0].Row != ndRows[0] || out.Rejected[1].Row != ndRows[1] ||
		!strings.Contains(out.Rejected[1].Error, "longer than the 1 MiB limit") {
		t.Fatalf("NDJSON: %d enrolled %d (want %d): %.1000s", code, out.Enrolled, ndGood, text)
	}
	h.prospect("j2600")
}

// rssKB reads a line of /proc/self/status in kB.
func rssKB(tb testing.TB, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	tb.Skipf("no %s in /proc/self/status", field)
	return 0
}

// genCSV produces a CSV of rows good prospects without holding it, so
// the process's memory is the server's.
type genCSV struct {
	rows, i int
	buf     []byte
	header  bool
}

func (g *genCSV) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if !g.header {
			g.header = true
			g.buf = append(g.buf, "email,first_name,last_name,company,title,city,state,phone,plan,region\n"...)
			continue
		}
		if g.i == g.rows {
			return 0, io.EOF
		}
		g.buf = fmt.Appendf(g.buf, "bench%d@example.com,Ada,Lovelace,Analytical %d,Engineer,Chicago,IL,+1312%07d,pro,emea\n", g.i, g.i%97, 2000000+g.i)
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// BenchmarkBulkImport60MB POSTs a 60 MB CSV (about 600,000 rows) to the
// bulk endpoint and reports the growth of the process's peak RSS
// (VmHWM, reset before the request) and of the sampled peak Go heap. The
// test process holds the server only: the body is generated as it is
// sent.
//
//	go test ./server -run '^$' -bench BulkImport60MB -benchtime 1x
//
// With -short (scripts/bench-guard.sh) the body is 12 MB: a server that
// held it whole would still grow by hundreds of MB.
func BenchmarkBulkImport60MB(b *testing.B) {
	size := 60 << 20
	if testing.Short() {
		size = 12 << 20
	}
	row := len(fmt.Sprintf("bench%d@example.com,Ada,Lovelace,Analytical %d,Engineer,Chicago,IL,+1312%07d,pro,emea\n", 100000, 10, 100000))
	rows := size / row
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b)
		n, err := io.Copy(io.Discard, &genCSV{rows: rows})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		before := rssKB(b, "VmRSS")
		// Writing 5 to clear_refs resets VmHWM to the current RSS.
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Skipf("cannot reset VmHWM: %v", err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapBefore := ms.HeapInuse
		var peakHeap uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peakHeap = max(peakHeap, m.HeapInuse)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		req, _ := http.NewRequest("POST", h.url+"/v1/enrollments/bulk?cadence=trial", &genCSV{rows: rows})
		req.ContentLength = n
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "text/csv")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out bulkAnswer
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		wall := time.Since(t0)
		b.StopTimer()
		close(stop)
		<-sampled
		if err != nil || resp.StatusCode != 200 || out.Enrolled != rows || out.RejectedTotal != 0 {
			b.Fatalf("%d %v: enrolled %d of %d, rejected %d %+v", resp.StatusCode, err, out.Enrolled, rows, out.RejectedTotal, out.Rejected[:min(len(out.Rejected), 3)])
		}
		peak := rssKB(b, "VmHWM")
		b.ReportMetric(float64(n)/(1<<20), "body_MB")
		b.ReportMetric(float64(peak-before)/1024, "peak_RSS_growth_MB")
		b.ReportMetric(float64(peakHeap-min(peakHeap, heapBefore))/(1<<20), "peak_heap_growth_MB")
		b.ReportMetric(float64(rows)/wall.Seconds(), "rows/s")
	}
}
