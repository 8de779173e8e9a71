package inbound

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

const (
	maxPartBytes = 1 << 20 // per decoded part
	maxParts     = 200
	maxDepth     = 10
)

// MessageText returns the readable text of a message body: the first
// text/plain part found walking nested multiparts in order (mixed →
// alternative → text/plain, related, signed …), or, when there is none or
// it is blank, the first text/html part converted to text. Attachments
// (Content-Disposition: attachment) and attached messages (message/rfc822)
// are skipped. Each part is decoded from its Content-Transfer-Encoding
// (base64, quoted-printable) and charset (anything in the WHATWG encoding
// index; invalid UTF-8 labelled as UTF-8 is read as Windows-1252). In the
// HTML conversion, blockquotes and Gmail, Yahoo, Thunderbird and Outlook
// quote containers become "> " lines and Gmail's signature div is preceded
// by a "-- " line, so NewText removes them like their plain-text forms.
//
// Nothing is removed here; NewText keeps only what the sender wrote. An
// error is returned only when a multipart body is broken before any text
// was found.
func MessageText(h mail.Header, body io.Reader) (string, error) {
	var w walker
	err := w.walk(h.Get, body, 0)
	if strings.TrimSpace(w.plain) != "" {
		return w.plain, nil
	}
	if w.html != "" {
		return htmlToText(w.html), nil
	}
	if err != nil {
		return w.plain, err
	}
	return w.plain, nil
}

type walker struct {
	plain, html string
	parts       int
}

func (w *walker) walk(get func(string) string, body io.Reader, depth int) error {
	if w.parts++; w.parts > maxParts || depth > maxDepth {
		return nil
	}
	mt, params, err := mime.ParseMediaType(get("Content-Type"))
	if mt == "" || (err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter)) {
		mt, params = "text/plain", map[string]string{}
	}
	if d, _, _ := mime.ParseMediaType(get("Content-Disposition")); d == "attachment" {
		return nil
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			return nil
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart body: %w", err)
			}
			if err := w.walk(p.Header.Get, p, depth+1); err != nil {
				return err
			}
			if w.parts > maxParts {
				return nil
			}
		}
	case mt == "text/plain":
		if strings.TrimSpace(w.plain) == "" {
			w.plain = decodePart(get, params, body)
		}
	case mt == "text/html":
		if w.html == "" {
			w.html = decodePart(get, params, body)
		}
	}
	return nil
}

// decodePart undoes the transfer encoding and charset of one part.
func decodePart(get func(string) string, params map[string]string, body io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(body, 4*maxPartBytes))
	var b []byte
	switch strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding"))) {
	case "base64":
		b = decodeBase64(raw)
	case "quoted-printable":
		b, _ = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	default:
		b = raw
	}
	if len(b) > maxPartBytes {
		b = b[:maxPartBytes]
	}
	return decodeCharset(b, params["charset"])
}

var notBase64 = regexp.MustCompile(`[^A-Za-z0-9+/=]`)

// decodeBase64 is lenient: whitespace and stray characters are dropped,
// missing padding is tolerated and a damaged tail loses only itself.
func decodeBase64(raw []byte) []byte {
	s := notBase64.ReplaceAllString(string(raw), "")
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err == nil {
		return b
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		b, _ = base64.RawStdEncoding.DecodeString(s[:int(ce)/4*4])
	}
	return b
}

// decodeCharset converts b from charset to UTF-8.
func decodeCharset(b []byte, charset string) string {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(b) {
			return string(b)
		}
		return decodeWith(charmap.Windows1252, b)
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		if utf8.Valid(b) {
			return string(b)
		}
		return decodeWith(charmap.Windows1252, b)
	}
	return decodeWith(enc, b)
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// charsetReader lets mime.WordDecoder read any charset of the index.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(strings.ToLower(charset))
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}

var (
	attrRe     = regexp.MustCompile(`(?is)\b(class|id|type)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	blockTags  = map[string]bool{"p": true, "div": true, "tr": true, "table": true, "li": true, "ul": true, "ol": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true, "hr": true, "section": true, "article": true, "header": true, "footer": true, "dl": true, "dt": true, "dd": true, "center": true, "form": true, "address": true, "body": true}
	skipTags   = map[string]bool{"script": true, "style": true, "head": true, "title": true, "xml": true, "template": true, "noscript": true}
	voidTags   = map[string]bool{"br": true, "hr": true, "img": true, "meta": true, "link": true, "input": true, "area": true, "base": true, "col": true, "wbr": true, "source": true, "embed": true, "param": true, "track": true}
	quoteClass = regexp.MustCompile(`(?i)\b(gmail_quote|yahoo_quoted|moz-cite-prefix|protonmail_quote|zmail_extra|divRplyFwdMsg|OutlookMessageHeader)\b`)
	restQuoted = regexp.MustCompile(`(?i)^(divRplyFwdMsg|stopSpelling|OutlookMessageHeader)$`)
	sigClass   = regexp.MustCompile(`(?i)\b(gmail_signature)\b`)
)

// htmlToText renders HTML as plain text: block elements break lines,
// quoted containers become "> " lines, scripts and styles are dropped and
// entities decoded.
func htmlToText(src string) string {
	type open struct {
		name  string
		quote bool
	}
	var (
		out   strings.Builder
		line  strings.Builder
		stack []open
		depth int  // quote depth
		rest  bool // everything from here on is quoted (Outlook's reply header)
		pre   int
		lineQ int
	)
	flush := func() {
		l := strings.TrimRight(line.String(), " ")
		if strings.TrimSpace(l) != "" {
			out.WriteString(strings.Repeat("> ", lineQ))
			out.WriteString(strings.TrimLeft(l, " "))
		}
		out.WriteByte('\n')
		line.Reset()
	}
	quoteLevel := func() int {
		if rest {
			return depth + 1
		}
		return depth
	}
	text := func(s string) {
		s = html.UnescapeString(s)
		s = strings.ReplaceAll(s, "\u00a0", " ")
		if pre == 0 {
			// HTML whitespace: runs collapse to one space, kept only
			// where the source has some.
			lead := s != "" && strings.TrimLeft(s, " \t\r\n\f") != s
			trail := s != "" && strings.TrimRight(s, " \t\r\n\f") != s
			s = strings.Join(strings.Fields(s), " ")
			if s == "" {
				if line.Len() > 0 && (lead || trail) {
					line.WriteByte(' ')
				}
				return
			}
			if line.Len() == 0 {
				lineQ = quoteLevel()
			} else if lead && !strings.HasSuffix(line.String(), " ") {
				line.WriteByte(' ')
			}
			line.WriteString(s)
			if trail {
				line.WriteByte(' ')
			}
			return
		}
		for i, part := range strings.Split(s, "\n") {
			if i > 0 {
				flush()
			}
			if line.Len() == 0 {
				lineQ = quoteLevel()
			}
			line.WriteString(part)
		}
	}
	for i := 0; i < len(src); {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			text(src[i:])
			break
		}
		if lt > 0 {
			text(src[i : i+lt])
		}
		i += lt
		switch {
		case strings.HasPrefix(src[i:], "<!--"):
			end := strings.Index(src[i+4:], "-->")
			if end < 0 {
				i = len(src)
			} else {
				i += 4 + end + 3
			}
			continue
		case strings.HasPrefix(src[i:], "<!"), strings.HasPrefix(src[i:], "<?"):
			end := strings.IndexByte(src[i:], '>')
			if end < 0 {
				i = len(src)
			} else {
				i += end + 1
			}
			continue
		}
		end := tagEnd(src, i)
		if end < 0 {
			text(src[i:])
			break
		}
		tag := src[i+1 : end]
		i = end + 1
		closing := strings.HasPrefix(tag, "/")
		tag = strings.TrimPrefix(tag, "/")
		n := 0
		for n < len(tag) && (tag[n] >= 'a' && tag[n] <= 'z' || tag[n] >= 'A' && tag[n] <= 'Z' || tag[n] >= '0' && tag[n] <= '9' || tag[n] == ':') {
			n++
		}
		if n == 0 {
			text("<" + tag + ">")
			continue
		}
		name := strings.ToLower(tag[:n])
		selfClosing := strings.HasSuffix(tag, "/")
		if !closing && skipTags[name] {
			if j := indexFold(src[i:], "</"+name); j >= 0 {
				i += j
			} else {
				i = len(src)
			}
			continue
		}
		switch {
		case name == "br":
			flush()
			continue
		case name == "td" || name == "th":
			text(" ")
			continue
		case name == "pre":
			if closing {
				pre = max(pre-1, 0)
			} else {
				pre++
			}
		}
		if closing {
			if blockTags[name] || name == "blockquote" {
				flush()
			}
			if name == "div" || name == "blockquote" {
				for k := len(stack) - 1; k >= 0; k-- {
					if stack[k].name == name {
						for _, o := range stack[k:] {
							if o.quote {
								depth--
							}
						}
						stack = stack[:k]
						break
					}
				}
			}
			continue
		}
		if blockTags[name] || name == "blockquote" {
			flush()
		}
		var class, id string
		for _, a := range attrRe.FindAllStringSubmatch(tag[n:], -1) {
			v := strings.Trim(a[2], `"'`)
			switch strings.ToLower(a[1]) {
			case "class":
				class = v
			case "id":
				id = v
			}
		}
		if restQuoted.MatchString(id) || restQuoted.MatchString(class) {
			rest = true
		}
		if sigClass.MatchString(class) {
			flush()
			out.WriteString(strings.Repeat("> ", quoteLevel()) + "-- \n")
		}
		if voidTags[name] || selfClosing {
			continue
		}
		if name == "div" || name == "blockquote" {
			q := name == "blockquote" || quoteClass.MatchString(class) || quoteClass.MatchString(id)
			if q {
				depth++
			}
			stack = append(stack, open{name, q})
		}
	}
	flush()
	var kept []string
	blank := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.TrimSpace(l) == "" {
			if blank++; blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		kept = append(kept, strings.TrimRight(l, " "))
	}
	return strings.TrimSpace(strings.Join(kept, "\n"))
}

// tagEnd finds the '>' closing the tag opened at src[i], skipping quoted
// attribute values; -1 when there is none.
func tagEnd(src string, i int) int {
	var q byte
	for j := i + 1; j < len(src); j++ {
		c := src[j]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '>':
			return j
		}
	}
	return -1
}

func indexFold(s, sub string) int {
	return strings.Index(strings.ToLower(s), strings.ToLower(sub))
}
