package browsertest

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored for tests (axe/README.md says which
// version and how to update it). Only test binaries import this package.
//
//go:embed axe/axe.min.js
var axeSource string

// AxeTags are the rule sets Axe runs: WCAG 2.0 and 2.1, levels A and AA,
// and axe's best practices.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// Violation is a rule that failed on the page, with every element that
// failed it.
type Violation struct {
	ID string
	// Impact is minor, moderate, serious or critical.
	Impact  string
	Help    string
	HelpURL string
	Nodes   []AxeNode
}

// AxeNode is one element that failed a rule.
type AxeNode struct {
	// Target is the CSS selector of the element (parts inside a shadow
	// root or frame joined by " >>> ").
	Target string
	// HTML is the start of the element's markup.
	HTML string
	// Summary is axe's "fix any of / fix all of" explanation.
	Summary string
}

// Serious reports whether the violation's impact is serious or critical.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

// String is the violation with each failing element, one a line.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s — %s", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s\n      %s", n.Target, n.HTML)
		if n.Summary != "" {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
	}
	return b.String()
}

// AxeReport is what one axe run found.
type AxeReport struct {
	// Version is axe-core's, as the page reports it.
	Version string
	// Rules is how many rules ran; Violations and Incomplete (rules axe
	// could not decide, such as contrast over an image) come from them.
	Rules      int
	Violations []Violation
	Incomplete []Violation
}

// Axe runs axe-core over the page open in the chromedp context ctx and
// returns the rules it violates (see AxeTags). The script is injected
// through the DevTools protocol, which the page's Content-Security-Policy
// does not apply to.
func Axe(ctx context.Context) ([]Violation, error) {
	r, err := RunAxe(ctx)
	if err != nil {
		return nil, err
	}
	return r.Violations, nil
}

// axeRun runs axe once axeSource is loaded and reduces its results to
// what AxeReport holds (%s is the JSON list of tags).
const axeRun = `(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations', 'incomplete']});
  const target = t => t.map(p => Array.isArray(p) ? p.join(' >>> ') : p).join(' >>> ');
  const rules = list => list.map(v => ({
    ID: v.id, Impact: v.impact || '', Help: v.help, HelpURL: v.helpUrl,
    Nodes: v.nodes.map(n => ({Target: target(n.target), HTML: n.html, Summary: n.failureSummary || ''})),
  }));
  return {Version: axe.version, Rules: r.passes.length + r.violations.length + r.incomplete.length + r.inapplicable.length,
    Violations: rules(r.violations), Incomplete: rules(r.incomplete)};
})()`

// RunAxe is Axe with the rules axe could not decide and its version.
func RunAxe(ctx context.Context) (*AxeReport, error) {
	var tags strings.Builder
	tags.WriteByte('[')
	for i, t := range AxeTags {
		if i > 0 {
			tags.WriteByte(',')
		}
		fmt.Fprintf(&tags, "%q", t)
	}
	tags.WriteByte(']')
	var loaded bool
	var r AxeReport
	err := chromedp.Run(ctx,
		chromedp.Evaluate(`typeof window.axe === 'object' && typeof window.axe.run === 'function'`, &loaded),
		chromedp.ActionFunc(func(ctx context.Context) error {
			if loaded {
				return nil
			}
			return chromedp.Evaluate(axeSource, nil).Do(ctx)
		}),
		chromedp.Evaluate(fmt.Sprintf(axeRun, tags.String()), &r, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	if r.Rules == 0 {
		return nil, fmt.Errorf("axe %s ran no rules", r.Version)
	}
	return &r, nil
}
