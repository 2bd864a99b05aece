package dlq

import "context"

// Export calls fn with every entry of a kind as stored, byte for byte,
// oldest first: with a zero Filter every stored string, malformed ones
// included; otherwise the well-formed entries that match f. It stops with
// the first error of fn (returned as it is) or of ctx.
//
// Export acts on the entries present when it starts, as bulk actions do:
// it takes a snapshot of the list and walks it from the tail, as
// [Service.Count] does. Each entry present at the start is handed on once,
// whatever others push, pop, trim or remove meanwhile, but for one removed
// before Export read it. An entry pushed at the head after the start (by
// this library or any other program) is not handed on; one another
// program RPUSHes at the tail meanwhile may be. The part present at the
// start ends at its newest 16 entries, which Export recognises as a run of
// their strings in their order, wherever others' removals have moved them:
// only if, before it gets there, others remove all but three of them
// (fewer than four distinct strings left) and about 16 more older entries
// than they RPUSH, may Export go on to newer entries, up to the list's
// length at the start plus 1,024 entries in all.
// Identical stored strings (only other programs write such) are each
// handed on; but when others remove the last entry Export handed on, or
// RPUSH, a copy of a string handed on a page or more before may be left
// out.
//
// It reads the list in pages (at most 512 entries and, as far as the
// entries of the read before tell, about 1 MB), so that no read holds
// Redis; its memory is a page and a hash of each entry handed on.
//
// It returns an error wrapping [ErrInvalidKind] for an invalid kind.
func (s *Service) Export(ctx context.Context, kind Kind, f Filter, fn func(raw string) error) error {
	if err := s.check(kind); err != nil {
		return err
	}
	sn, err := s.takeSnapshot(ctx, kind.Key())
	if err != nil {
		return opError("export", kind, err)
	}
	var dec entryDecoder
	var fnErr error
	err = s.walk(ctx, kind.Key(), sn, func(page []stored) (int, error) {
		for _, e := range page {
			if !f.IsZero() {
				if it, err := dec.decode(e.raw); err != nil || !f.Match(it) {
					continue
				}
			}
			if fnErr = fn(e.raw); fnErr != nil {
				return 0, fnErr
			}
		}
		return 0, nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return opError("export", kind, err)
	}
	return nil
}
