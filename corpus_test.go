package dlq

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"testing"
)

//go:generate sh -c "go run ./testdata/corpus/gen > testdata/corpus/corpus.jsonl"

// corpusScore is how well Signature sorts a labeled corpus by cause.
type corpusScore struct {
	causes, groups int
	recovered      int      // causes with ≥ 95% of their entries in one group that holds no other cause's
	merged         int      // groups that hold entries of two causes or more
	lost           []string // the causes not recovered, and why
}

// scoreCorpus reads a JSON-lines corpus of {"cause", "error"} and scores
// Signature on it.
func scoreCorpus(t *testing.T, path string) corpusScore {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bySig := map[string]map[string]int{}   // signature → cause → entries
	byCause := map[string]map[string]int{} // cause → signature → entries
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Cause, Error string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Cause == "" {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		sig := Signature(e.Error)
		if bySig[sig] == nil {
			bySig[sig] = map[string]int{}
		}
		if byCause[e.Cause] == nil {
			byCause[e.Cause] = map[string]int{}
		}
		bySig[sig][e.Cause]++
		byCause[e.Cause][sig]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	s := corpusScore{causes: len(byCause), groups: len(bySig)}
	for _, causes := range bySig {
		if len(causes) > 1 {
			s.merged++
		}
	}
	names := make([]string, 0, len(byCause))
	for c := range byCause {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		total, best, bestSig := 0, 0, ""
		for sig, n := range byCause[c] {
			total += n
			if n > best {
				best, bestSig = n, sig
			}
		}
		switch {
		case len(bySig[bestSig]) > 1:
			s.lost = append(s.lost, c+": shares "+bestSig)
		case best*100 < total*95:
			s.lost = append(s.lost, c+": split in "+itoa(len(byCause[c]))+" groups, the largest "+bestSig)
		default:
			s.recovered++
		}
	}
	return s
}

// TestSignatureCorpus measures Signature on the generated corpus
// (testdata/corpus/gen) and on a smaller one written by hand with other
// libraries' phrasings (testdata/corpus/heldout.jsonl): at least 90% of
// causes recovered, no group merging two causes, at most 1.2 groups per
// cause.
func TestSignatureCorpus(t *testing.T) {
	for _, path := range []string{"testdata/corpus/corpus.jsonl", "testdata/corpus/heldout.jsonl"} {
		s := scoreCorpus(t, path)
		t.Logf("%s: %d causes, %d groups: causes recovered %.1f%%, groups merging two causes %d, groups/causes %.2f",
			path, s.causes, s.groups, 100*float64(s.recovered)/float64(s.causes), s.merged, float64(s.groups)/float64(s.causes))
		for _, l := range s.lost {
			t.Logf("  not recovered: %s", l)
		}
		if s.causes < 10 || s.recovered*10 < s.causes*9 || s.merged > 0 || s.groups*10 > s.causes*12 {
			t.Errorf("%s: below target (recovered ≥ 90%%, merged = 0, groups/causes ≤ 1.2)", path)
		}
	}
}
