package cadence

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// This file turns a YAML syntax error into one problem at the place the
// author has to look at. The parser reports where it noticed the problem
// (yaml.LoadError.Mark, 1-based line and column) and the construct it was
// in (ContextMark). Most of the time the mark is right; two cases move it:
//
//   - a quote, [ or { that is never closed is only noticed at the end of the
//     file, so the problem is put where it opens;
//   - a key indented deeper than the line above is noticed at its colon, so
//     the problem is put at the key.
//
// For indentation mistakes, the common case, the message names the key
// the line fails to line up with.

// SyntaxProblem places a YAML parse error of data as above; other YAML
// files of the project (the mailboxes file) report theirs the same way.
func SyntaxProblem(file string, data []byte, err error) *FieldError {
	return syntaxProblem(file, data, err)
}

func syntaxProblem(file string, data []byte, err error) *FieldError {
	var le *yaml.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		var line int
		if le != nil {
			line = le.ContextMark.Line
		}
		return &FieldError{Pos: Pos{File: file, Line: line}, Msg: "malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	src := splitLines(data)
	pos := Pos{File: file, Line: le.Mark.Line, Column: le.Mark.Column}
	msg := le.Message
	hint := ""
	switch {
	case le.ContextMark.Line > 0 && pastContent(src, le.Mark) && opener(src, le.ContextMark) != 0:
		open := opener(src, le.ContextMark)
		pos.Line, pos.Column = le.ContextMark.Line, le.ContextMark.Column
		msg = fmt.Sprintf("this %c is never closed (no %c before the end of the file)", open, closerOf(open))
	case msg == "could not find expected ':'" && le.ContextMsg == "while scanning a simple key" && le.ContextMark.Line > 0:
		// Noticed on the next line; the key without a colon is the context.
		pos.Line, pos.Column = le.ContextMark.Line, le.ContextMark.Column
		if line, ok := lineAt(src, pos.Line); ok && pos.Column >= 1 {
			if word := strings.TrimSpace(string([]rune(line)[min(pos.Column-1, utf8.RuneCountInString(line)):])); word != "" {
				msg = fmt.Sprintf("could not find expected ':' after %q", word)
			}
		}
	case strings.HasPrefix(le.ContextMsg, "while parsing a flow") && le.ContextMark.Line > 0 && opener(src, le.ContextMark) != 0:
		hint = fmt.Sprintf("the %c at line %d, column %d is still open here", opener(src, le.ContextMark), le.ContextMark.Line, le.ContextMark.Column)
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"):
		if line, ok := lineAt(src, pos.Line); ok && firstCol(line) == pos.Column {
			hint = misalignedHint(src, pos.Line)
		}
	case msg == "mapping values are not allowed in this context":
		line, _ := lineAt(src, pos.Line)
		if firstColon(line) == pos.Column {
			// The whole line is a key: it is indented deeper than the line
			// above, so YAML reads it as the continuation of that value.
			if above, ok := contentLineAbove(src, pos.Line); ok {
				pos.Column = firstCol(line)
				hint = fmt.Sprintf("check the indentation: %s is at column %d, deeper than %s at column %d",
					label(line, pos.Column, 0), pos.Column, label(src[above-1], keyCol(src[above-1]), above), keyCol(src[above-1]))
			}
		} else {
			hint = `quote a value that contains ": "`
		}
	case strings.Contains(msg, "tab character"):
		hint = "indent with spaces, not tabs"
	case strings.Contains(msg, "cannot start any token"):
		hint = "quote the value"
	}
	if hint != "" {
		msg += "; " + hint
	}
	return &FieldError{Pos: pos, Msg: "malformed YAML: " + msg}
}

func splitLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	lines[0] = strings.TrimPrefix(lines[0], bom)
	return lines
}

// bom is a UTF-8 byte order mark, which YAML skips and does not count.
const bom = "\ufeff"

func lineAt(src []string, n int) (string, bool) {
	if n < 1 || n > len(src) {
		return "", false
	}
	return src[n-1], true
}

// isContent reports whether a line holds YAML, not only blanks or a comment.
func isContent(line string) bool {
	t := strings.TrimSpace(line)
	return t != "" && !strings.HasPrefix(t, "#")
}

// pastContent reports whether m lies after the last character of the file
// that is not a blank or a comment: the parser ran out of input.
func pastContent(src []string, m yaml.Mark) bool {
	last := 0
	for i := len(src); i >= 1; i-- {
		if isContent(src[i-1]) {
			last = i
			break
		}
	}
	if m.Line != last {
		return m.Line > last
	}
	return m.Column > utf8.RuneCountInString(strings.TrimRight(src[last-1], " \t"))
}

// opener returns the quote or bracket at m, or 0.
func opener(src []string, m yaml.Mark) rune {
	line, ok := lineAt(src, m.Line)
	if !ok {
		return 0
	}
	r := []rune(line)
	if m.Column < 1 || m.Column > len(r) {
		return 0
	}
	switch c := r[m.Column-1]; c {
	case '[', '{', '"', '\'':
		return c
	}
	return 0
}

func closerOf(open rune) rune {
	switch open {
	case '[':
		return ']'
	case '{':
		return '}'
	}
	return open
}

// firstCol is the 1-based column of the first non-blank character.
func firstCol(line string) int {
	for i, r := range []rune(line) {
		if r != ' ' && r != '\t' {
			return i + 1
		}
	}
	return 0
}

// keyCol is the column of the line's key: after any "- " list markers.
func keyCol(line string) int {
	r := []rune(line)
	i := firstCol(line) - 1
	for i >= 0 && i < len(r) && r[i] == '-' && (i+1 == len(r) || r[i+1] == ' ') {
		i++
		for i < len(r) && r[i] == ' ' {
			i++
		}
	}
	return i + 1
}

// firstColon is the column of the first ':' that ends a key (followed by a
// blank or the end of the line), outside quotes, or 0.
func firstColon(line string) int {
	r := []rune(line)
	var quote rune
	for i, c := range r {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || r[i-1] == ' '):
			return 0
		case c == ':' && (i+1 == len(r) || r[i+1] == ' ' || r[i+1] == '\t'):
			return i + 1
		}
	}
	return 0
}

// label names what starts at col of line: "channel" for a key, "the list
// item" for a "- " marker, else "line N". n is the line number, or 0 for
// the line the problem is on.
func label(line string, col, n int) string {
	r := []rune(line)
	where := ""
	if n > 0 {
		where = fmt.Sprintf(" on line %d", n)
	}
	if col < 1 || col > len(r) {
		if n == 0 {
			return "this line"
		}
		return fmt.Sprintf("line %d", n)
	}
	rest := string(r[col-1:])
	if rest == "-" || strings.HasPrefix(rest, "- ") {
		return "the list item" + where
	}
	if c := firstColon(rest); c > 1 {
		key := strings.TrimSpace(string([]rune(rest)[:c-1]))
		if key != "" && !strings.ContainsAny(key, "{}[],") {
			return fmt.Sprintf("%q%s", strings.Trim(key, `"'`), where)
		}
	}
	if n == 0 {
		return "this line"
	}
	return fmt.Sprintf("line %d", n)
}

func contentLineAbove(src []string, n int) (int, bool) {
	for i := n - 1; i >= 1; i-- {
		if isContent(src[i-1]) {
			return i, true
		}
	}
	return 0, false
}

// misalignedHint explains a line whose indentation lines up with no block
// that is open above it. It names the nearest open block indented deeper
// than the line: the key the author most likely meant to line up with.
func misalignedHint(src []string, n int) string {
	bad := src[n-1]
	c := firstCol(bad)
	minSeen := int(^uint(0) >> 1)
	bestCol, bestLine := 0, 0
	bestText := ""
	for i := n - 1; i >= 1 && minSeen > c; i-- {
		line := src[i-1]
		if !isContent(line) {
			continue
		}
		// A "- key:" line opens two blocks: the key's and the list's.
		for _, col := range []int{keyCol(line), firstCol(line)} {
			if col >= minSeen {
				continue
			}
			minSeen = col
			if col == c {
				if col == firstCol(line) && col != keyCol(line) && keyCol(bad) == c {
					return fmt.Sprintf(`%s lines up with the list item on line %d but does not start with "- "`, label(bad, c, 0), i)
				}
				return "" // it does line up: not an indentation problem
			}
			if col > c {
				bestCol, bestLine, bestText = col, i, line
			}
		}
	}
	if bestLine == 0 {
		return ""
	}
	return fmt.Sprintf("check the indentation: %s is at column %d, %s at column %d",
		label(bad, c, 0), c, label(bestText, bestCol, bestLine), bestCol)
}
