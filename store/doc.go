// Package store persists Nurture's state in Redis with go-redis: prospects,
// enrollments with their timelines and send ledgers, the sharded due sets
// the dispatcher claims from, consent and per-cadence statistics.
//
// Cluster-safe from day one: every key carries a hash tag, and a prospect
// and all of its enrollments live in one shard ({s07}), so every multi-key
// Lua script touches keys of one slot. Scripts take time from Go in ARGV,
// never Redis TIME. Domain decisions are made in Go by package cadence; the
// scripts only compare-and-set (each enrollment has a revision) so
// concurrent workers and API calls never lose an update.
//
// Prospect search (prospect_index.go) keeps per-shard secondary indexes:
// "folded term\x00pid" entries (name, last name, email, company, phone
// digits, owner) in byte order, as directories of small sorted-set buckets
// that Redis keeps compact, written after each profile write by a
// script on the prospect's own slot that applies only if the profile is
// still the one indexed. SearchProspects merges the shards' prefix ranges
// in entry order (the cursor is the last member consumed),
// checks cadence, stage and state on the candidates' enrollments with one
// script per shard, and stops after a bounded number of candidates with a
// partial page and a cursor rather than run long. ReindexProspects builds
// the index for prospects stored before it.
package store
