package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// BenchmarkProspectSearch loads N prospects (NURTURE_BENCH_N; 20,000 with
// -short, else 100,000) with names, companies, owners, phones and
// enrollments spread the way a B2B book is, then measures the first page
// (25) of five searches: a name prefix, an email prefix, an owner's book,
// warm leads in a cadence, and no filter. It reports p50 and p99 latency
// per search and the index's bytes per prospect (MEMORY USAGE of every
// index key). Run:
//
//	NURTURE_BENCH_N=1000000 go test ./store -run '^$' -bench ProspectSearch -benchtime 200x
func BenchmarkProspectSearch(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	if v := os.Getenv("NURTURE_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("NURTURE_BENCH_N=%q: want a positive number", v)
		}
	}
	rdb, prefix := redistest.ClientPrefix(b, fmt.Sprintf("s%06d", os.Getpid()%1000000)) // as long as "nurture"
	st := store.New(rdb, prefix)
	ctx := context.Background()
	pop := newPopulation(n)
	start := time.Now()
	loadPopulation(b, st, pop)
	b.Logf("loaded %d prospects and %d enrollments in %s", n, pop.enrollments, time.Since(start).Round(time.Millisecond))

	// Every index key: the directories, their buckets and the counts.
	var indexBytes int64
	buckets := 0
	for sh := 0; sh < store.Shards; sh++ {
		keys := []string{st.Keys().ProspectIndexCounts(sh)}
		for _, dir := range []string{st.Keys().ProspectNameIndex(sh), st.Keys().ProspectTermIndex(sh), st.Keys().ProspectOwnerIndex(sh)} {
			bounds, err := rdb.ZRange(ctx, dir, 0, -1).Result()
			if err != nil {
				b.Fatal(err)
			}
			keys = append(keys, dir)
			for _, bound := range bounds {
				keys = append(keys, dir+":"+bound)
			}
			buckets += len(bounds)
		}
		cmds := make([]*redis.IntCmd, len(keys))
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.MemoryUsage(ctx, k, 0)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			indexBytes += c.Val()
		}
	}
	perProspect := float64(indexBytes) / float64(n)
	b.Logf("search index: %d bytes in %d buckets, %.1f B per prospect", indexBytes, buckets, perProspect)

	// Queries are drawn from a sample; the rest of the population is let
	// go, so the benchmark's own heap does not weigh on the timings.
	r := rand.New(rand.NewPCG(7, 11))
	sample := make([]store.Prospect, 5000)
	for i := range sample {
		sample[i] = *pop.ps[r.IntN(len(pop.ps))]
	}
	owners := pop.owners
	pop = nil
	runtime.GC()
	cads := []string{"saas-trial", "shop-winback", "reactivation"}
	kinds := []struct {
		name  string
		query func() store.ProspectQuery
	}{
		{"q=name", func() store.ProspectQuery {
			p := sample[r.IntN(len(sample))]
			if r.IntN(2) == 0 {
				return store.ProspectQuery{Text: prefixOf(p.FirstName, 3)}
			}
			return store.ProspectQuery{Text: prefixOf(p.LastName, 4)}
		}},
		{"q=email", func() store.ProspectQuery {
			return store.ProspectQuery{Text: prefixOf(sample[r.IntN(len(sample))].Email, 5)}
		}},
		{"owner", func() store.ProspectQuery { return store.ProspectQuery{Owner: owners[r.IntN(len(owners))]} }},
		{"warm-in-cadence", func() store.ProspectQuery {
			return store.ProspectQuery{Cadence: cads[r.IntN(len(cads))], State: cadence.Warm}
		}},
		{"no-filter", func() store.ProspectQuery { return store.ProspectQuery{} }},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			type slow struct {
				d time.Duration
				q store.ProspectQuery
			}
			var slowest []slow
			hits, searched, partial := 0, 0, 0
			for i := 0; i < b.N; i++ {
				q := k.query()
				q.Cadences, q.Region, q.Limit = cads, "US", 25
				t0 := time.Now()
				page, err := st.SearchProspects(ctx, q)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				slowest = append(slowest, slow{lat[len(lat)-1], q})
				hits += len(page.Hits)
				searched += page.Searched
				if page.Partial {
					partial++
				}
			}
			slices.Sort(lat)
			slices.SortFunc(slowest, func(a, b slow) int { return int(b.d - a.d) })
			for _, sl := range slowest[:min(3, len(slowest))] {
				b.Logf("slow: %v q=%q owner=%q cadence=%q", sl.d, sl.q.Text, sl.q.Owner, sl.q.Cadence)
			}
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
			b.ReportMetric(float64(hits)/float64(b.N), "hits/page")
			b.ReportMetric(float64(searched)/float64(b.N), "searched/page")
			b.ReportMetric(float64(partial)/float64(b.N), "partial/page")
			b.ReportMetric(perProspect, "index-B/prospect")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func prefixOf(s string, n int) string {
	s = strings.ToLower(s)
	r := []rune(s)
	return string(r[:min(n, len(r))])
}

// population is a synthetic book of prospects: common first and last
// names (some with accents), a few thousand companies with a long tail,
// 40 reps owning unequal shares, phones for most, and enrollments in
// three cadences in realistic states.
type population struct {
	ps          []*store.Prospect
	enroll      [][]store.NewEnrollment
	owners      []string
	enrollments int
}

var (
	benchFirst = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica
Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily
Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon
Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole
José María François Zoë Søren Łukasz Renée Chloé Jürgen Inès Óscar Ana Mateo Sofía Lucía Hiroshi Yuki Priya Arjun Wei Mei Olga Ivan Fatima Omar
Ada Grace Alan Katherine Margaret Hedy Grete Björn Ingrid Niamh Siobhán Aoife Dmitri Anastasia Chiara Giulia Luca Matteo Émile Amélie Noé`)
	benchLast = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson
Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott
Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz
Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox
Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Dubois Lefèvre Moreau Laurent Girard Rossi Russo Ferrari Esposito
Bianchi Nowak Kowalski Wiśniewski Wójcik Novák Svoboda Jensen Nielsen Hansen Søndergaard Andersson Johansson Karlsson Nilsson Eriksson Larsson
O'Brien O'Connor Murphy Byrne Ó Súilleabháin Tanaka Suzuki Takahashi Watanabe Sato Wang Li Zhang Liu Chen Yang Singh Kumar Sharma Gupta Núñez
Fernández González Rodríguez Pérez Sánchez Ramírez Jiménez Muñoz Álvarez Romero Straße Lovelace Hopper Turing Lamarr Hamilton Noether`)
	benchCo1 = strings.Fields(`Acme Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Soylent Hooli Pied Vandelay Dunder Aperture
Black Blue Red Green Silver Golden North South East West Pacific Atlantic Summit Pioneer Vertex Apex Nova Stellar Lunar Solar Quantum Fusion
Bright Clear Swift Rapid Prime Core Cloud Data Net Web Smart Open Urban Rural Coastal Mountain River Lake Forest Oak Pine Cedar Maple Birch Élan`)
	benchCo2 = strings.Fields(`Labs Systems Group Holdings Industries Technologies Solutions Partners Logistics Analytics Networks Dynamics
Software Robotics Foods Health Energy Capital Media Studios Works Supply Consulting Ventures Bank Insurance Motors Pharma Retail Telecom`)
)

func newPopulation(n int) *population {
	r := rand.New(rand.NewPCG(1, 2))
	pop := &population{}
	for i := 1; i <= 40; i++ {
		pop.owners = append(pop.owners, fmt.Sprintf("rep%02d", i))
	}
	zipf := rand.NewZipf(r, 1.1, 8, uint64(len(benchCo1)*len(benchCo2)-1))
	ownerZipf := rand.NewZipf(r, 1.05, 4, uint64(len(pop.owners)-1))
	states := []struct {
		s cadence.State
		p int
	}{{cadence.Active, 62}, {cadence.Paused, 5}, {cadence.Snoozed, 5}, {cadence.Warm, 3}, {cadence.Completed, 15}, {cadence.Exited, 10}}
	cads := []struct {
		id    string
		share int // per cent of prospects enrolled
	}{{"saas-trial", 60}, {"shop-winback", 30}, {"reactivation", 25}}
	stages := []string{"welcome", "activate", "nudge", "convert", "last-call"}
	for i := 0; i < n; i++ {
		first, last := benchFirst[r.IntN(len(benchFirst))], benchLast[r.IntN(len(benchLast))]
		c := int(zipf.Uint64())
		company := benchCo1[c%len(benchCo1)] + " " + benchCo2[c/len(benchCo1)%len(benchCo2)]
		domain := strings.ToLower(strings.NewReplacer(" ", "", "é", "e", "É", "e").Replace(company)) + ".com"
		local := strings.ToLower(asciiOf(first) + "." + asciiOf(last))
		email := fmt.Sprintf("%s%d@%s", local, i, domain)
		p := &store.Prospect{ID: email, Email: email, FirstName: first, LastName: last, Company: company, Title: "Head of Operations",
			TimeZone: "America/Chicago", Attr: map[string]string{"plan": "pro"}}
		if r.IntN(100) < 95 {
			p.Owner = pop.owners[ownerZipf.Uint64()]
		}
		// Numbers are unique (the address index refuses a shared one): the
		// area code is random, the line is the prospect's number.
		switch v := r.IntN(100); {
		case v < 60:
			p.Phone = fmt.Sprintf("+1%d%07d", 201+r.IntN(780), 2000000+i)
		case v < 70:
			p.Phone = fmt.Sprintf("+4420%08d", 70000000+i)
		}
		var ens []store.NewEnrollment
		for _, cad := range cads {
			if r.IntN(100) >= cad.share {
				continue
			}
			roll, st := r.IntN(100), cadence.Active
			for _, s := range states {
				if roll < s.p {
					st = s.s
					break
				}
				roll -= s.p
			}
			ens = append(ens, store.NewEnrollment{Enrollment: cadence.Enrollment{ID: store.EnrollmentID(p.ID, cad.id), ProspectID: p.ID, CadenceID: cad.id,
				Version: "v1", State: st, Stage: stages[r.IntN(len(stages))], EnrolledAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}})
		}
		pop.ps = append(pop.ps, p)
		pop.enroll = append(pop.enroll, ens)
		pop.enrollments += len(ens)
	}
	return pop
}

// asciiOf drops what an email local part would not have.
func asciiOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// loadPopulation writes the prospects (UpsertProspects, IndexProspects)
// and their enrollments in batches of 1,000, four at a time.
func loadPopulation(b *testing.B, st *store.Store, pop *population) {
	ctx := context.Background()
	const chunk = 1000
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range work {
				to := min(from+chunk, len(pop.ps))
				ps := pop.ps[from:to]
				errs, olds := st.UpsertProspects(ctx, ps)
				ierrs := st.IndexProspects(ctx, ps, olds, errs)
				var batch []store.NewEnrollment
				for _, ens := range pop.enroll[from:to] {
					batch = append(batch, ens...)
				}
				cerrs, cerr := st.CreateEnrollments(ctx, batch)
				// Warm leads are in the warm index, as the engine keeps them,
				// warm since some time in the last 30 days.
				var werr error
				for i, en := range batch {
					if en.Enrollment.State == cadence.Warm && werr == nil {
						since := en.Enrollment.EnrolledAt.Add(time.Duration((from+i)*7919%(30*24*60)) * time.Minute)
						werr = st.SetWarm(ctx, en.Enrollment.ID, true, since)
					}
				}
				mu.Lock()
				for _, err := range slices.Concat(errs, ierrs, cerrs, []error{cerr, werr}) {
					if err != nil && firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	for from := 0; from < len(pop.ps); from += chunk {
		work <- from
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}
