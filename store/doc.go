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
package store
