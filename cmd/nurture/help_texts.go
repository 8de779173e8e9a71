package main

// helps is the help of every command and cadences subcommand.
var helps = map[string]*cmdHelp{
	"demo": {
		usage:   "nurture demo [flags]",
		summary: "Runs the whole engine on an embedded in-memory Redis with sample prospects, the API and the dashboard.",
		example: "nurture demo --prospects 100 --day 2",
	},
	"validate": {
		usage:   "nurture validate FILE|DIR...",
		summary: "Checks cadence files (a directory: its *.yaml and *.yml files) and prints every problem as file:line:column: field: message.",
		details: "Exit status 1 if any file has a problem.",
		example: "nurture validate examples/",
	},
	"simulate": {
		usage:   "nurture simulate [flags] CADENCE.yaml",
		summary: "Dry-runs a cadence over a synthetic population on a virtual clock and prints the funnel and the sends per day.",
		details: "Flags may come before or after the file; the same seed gives the same report.",
		example: "nurture simulate examples/saas-trial.yaml --prospects 5000 --seed 7",
	},
	"schema": {
		usage:   "nurture schema > cadence.schema.json",
		summary: "Prints the JSON Schema of the cadence format, for editors and CI.",
		example: "nurture schema > cadence.schema.json",
	},
	"worker": {
		usage:   "nurture worker [flags]",
		summary: "Runs the dispatcher and the send handlers against REDIS_URL; any number may run against one Redis.",
		env:     engineEnv(false),
		example: "REDIS_URL=redis://127.0.0.1:6379/0 NURTURE_TOKEN_KEY=$(openssl rand -hex 32) nurture worker --concurrency 16",
	},
	"serve": {
		usage:   "nurture serve [flags]",
		summary: "Serves the API, the dashboard, tracking links and webhooks, and by default runs the workers in the same process.",
		details: "Without REDIS_URL or REDIS_CLUSTER_ADDRS it runs on an embedded Redis.\nVariables marked \"serve:\" are read by serve only.",
		env:     engineEnv(true),
		example: "REDIS_URL=redis://127.0.0.1:6379/0 NURTURE_API_TOKENS=ops:admin:$(openssl rand -hex 16) nurture serve --addr :8080 --no-worker",
	},
	"health": {
		usage:   "nurture health [--timeout 3s] URL",
		summary: "Exits 0 when URL answers 200 and 1 otherwise, for container health checks (the image has no shell or curl).",
		example: "nurture health http://127.0.0.1:8080/readyz",
	},
	"enroll": {
		usage:   "nurture enroll --cadence ID (--email E | --phone P) [flags]",
		summary: "Enrolls one prospect in a cadence through a running server's API.",
		details: "The prospect id defaults to the lowercased email address (else the phone).",
		env:     clientEnv,
		example: "nurture enroll --cadence saas-trial --email ada@example.com --first-name Ada --timezone Europe/London",
	},
	"import": {
		usage:   "nurture import prospects.csv --cadence ID [--chunk 1000] [--parallel 2]",
		summary: "Bulk-enrolls the prospects of a CSV file in a cadence, with a progress bar and the rejected rows with their line numbers.",
		details: `The header row names the columns (case-insensitive). These map to prospect fields:
  id, email, phone, first_name, last_name, company, title, city, state, country, timezone, owner
Every other column becomes an attribute (.Attr.NAME in templates); the attr.
prefix is optional (attr.plan and plan are the same attribute), and names
must match [A-Za-z_][A-Za-z0-9_]* or the header is refused. An empty id
defaults to the lowercased email, else the phone.

Rows are sent in chunks of --chunk rows, --parallel requests at a time. If a
request fails the import stops; rows already enrolled stay enrolled, and
re-running skips them as duplicates. Exit status 1 if any row was rejected.`,
		env:     clientEnv,
		example: "nurture import leads.csv --cadence saas-trial --chunk 500",
	},
	"pause": {
		usage:   "nurture pause (--email E | --phone P | --id ENROLLMENT) [--cadence ID] [--reason R] [--until T]",
		summary: "Pauses a prospect's enrollments (or one enrollment), optionally until a time or for a duration.",
		env:     clientEnv,
		example: `nurture pause --email ada@example.com --reason "on vacation" --until 14d`,
	},
	"resume": {
		usage:   "nurture resume (--email E | --phone P | --id ENROLLMENT) [--cadence ID] [--reason R]",
		summary: "Resumes a paused, snoozed or warm enrollment.",
		env:     clientEnv,
		example: "nurture resume --email ada@example.com --cadence saas-trial",
	},
	"snooze": {
		usage:   "nurture snooze (--email E | --phone P | --id ENROLLMENT) --until T [--cadence ID] [--reason R]",
		summary: "Snoozes an enrollment until an RFC 3339 time or for a duration such as 3d or 48h.",
		env:     clientEnv,
		example: `nurture snooze --email ada@example.com --until 3d --reason "asked to follow up next week"`,
	},
	"stop": {
		usage:   "nurture stop (--email E | --phone P | --id ENROLLMENT) [--cadence ID] [--reason R]",
		summary: "Stops (exits) a prospect's enrollments, or one enrollment.",
		env:     clientEnv,
		example: `nurture stop --phone +14155550100 --reason "signed the contract"`,
	},
	"timeline": {
		usage:   "nurture timeline (--email E | --phone P) [--cadence ID]",
		summary: "Shows a prospect's enrollments and the timeline of why each is where it is.",
		env:     clientEnv,
		example: "nurture timeline --email ada@example.com",
	},
	"warm": {
		usage:   "nurture warm [--owner REP]",
		summary: "Lists the warm leads waiting for sales, newest first.",
		env:     clientEnv,
		example: "nurture warm --owner dana",
	},
	"mailboxes": {
		usage:   "nurture mailboxes [resume MAILBOX | resume --cadence ID]",
		summary: "Lists the sender mailboxes (NURTURE_MAILBOXES) with today's sends against today's limit, slow-downs after rate-limited answers and the bounce brakes that are on; resume lifts a brake (admin token).",
		env:     clientEnv,
		example: "nurture mailboxes resume sam",
	},
	"uncertain": {
		usage:   "nurture uncertain --cadence ID [--since 168h]",
		summary: "Lists the touches a crash left uncertain (maybe delivered, not resent), with the Message-IDs to look up at the provider.",
		env:     clientEnv,
		example: "nurture uncertain --cadence saas-trial --since 24h",
	},
	"reindex": {
		usage:   "nurture reindex [--progress 2s]",
		summary: "Builds the prospect search index (GET /v1/prospects?q=, the dashboard's Prospects page) from every stored prospect, then marks it ready.",
		details: `serve and worker do this by themselves, in the background, when they start
on a Redis whose index was never built; run it by hand to build it in the
foreground, with progress, or again. Until it has run, the API answers
index_ready=false and the dashboard says older prospects may be missing.
It only adds index entries and reads each profile once, so it is safe
while serve and workers run.`,
		env:     reindexEnv,
		example: "REDIS_URL=redis://127.0.0.1:6379/0 nurture reindex",
	},
	"cadences": {
		usage:   "nurture cadences <command> [flags]",
		summary: "Publishes cadences to the catalog every serve and worker process runs (a publish reaches all of them within a second), and reads its history.",
		details: `Commands:
  publish FILE|DIR... [--message M] [--dry-run]   publish (or preview) cadence files
  versions ID                                     publications of a cadence, newest first
  diff ID [FROM [TO]]                             unified diff of two versions (default: the head
                                                  and the version it replaced)
  rollback ID VERSION [--message M] [--dry-run]   make an earlier version the head again

Run 'nurture cadences <command> -h' for a command's flags.`,
		env:     clientEnv,
		example: "nurture cadences publish examples/ --dry-run",
	},
	"cadences publish": {
		usage:   "nurture cadences publish FILE|DIR... [--message M] [--dry-run]",
		summary: "Validates every file first and, if none has a problem, publishes each one to the catalog.",
		details: `A directory means its *.yaml and *.yml files. If any file has a problem
nothing is published (problems are printed as file:line:column: field:
message, exit 1). The head's content again changes nothing; an earlier
version's content moves the head back to it. --dry-run prints, for each
file, the diff from the head and what the new version would do to live
enrollments, and changes nothing.`,
		env:     clientEnv,
		example: `nurture cadences publish examples/saas-trial.yaml --message "shorter day-3 email"`,
	},
	"cadences versions": {
		usage:   "nurture cadences versions ID",
		summary: "Lists a cadence's publications, newest first: version, when, by whom and why (* marks the head).",
		details: "A rollback appears as the head change it was.",
		env:     clientEnv,
		example: "nurture cadences versions saas-trial",
	},
	"cadences diff": {
		usage:   "nurture cadences diff ID [FROM [TO]]",
		summary: "Prints the unified diff of two versions' sources.",
		details: `TO defaults to the head, FROM to the version TO replaced when it became
the head; "head" names the head.`,
		env:     clientEnv,
		example: "nurture cadences diff saas-trial",
	},
	"cadences rollback": {
		usage:   "nurture cadences rollback ID VERSION [--message M] [--dry-run]",
		summary: "Makes an earlier version the head again (recorded as \"rollback to VERSION\"); every process runs it within a second.",
		details: `Enrollments move onto it at their next step. --dry-run prints the diff and
the impact on live enrollments and changes nothing.`,
		env:     clientEnv,
		example: `nurture cadences rollback saas-trial VERSION --dry-run --message "day-3 email broke links"`,
	},
}
