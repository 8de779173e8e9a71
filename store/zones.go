package store

import (
	"sync"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// zoneCache memoizes phone-number zone lookups by area prefix: parsing a
// number is slow compared with a send, and zones depend only on the
// country and area code (the first 6 characters of a +1 number, or 5 of
// others, err on the side of more distinct keys).
var zoneCache sync.Map

func zonesFor(e164 string) []*time.Location {
	key := e164
	if len(key) > 8 {
		key = key[:8]
	}
	if v, ok := zoneCache.Load(key); ok {
		return v.([]*time.Location)
	}
	z := cadence.ZonesForPhone(e164)
	zoneCache.Store(key, z)
	return z
}
