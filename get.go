package dlq

import "context"

// TEMPORARY: replaced by the lead's bounded lookup.

// Get returns the entry of a kind with this id, with its claim, without
// changing anything. It returns an error wrapping [ErrNotFound] when no
// well-formed entry has this id, [ErrInvalidID] for an empty id or one over
// [MaxIDLen] bytes, and [ErrInvalidKind] for an invalid kind.
//
// This version pages through [Service.Find] from the newest entry.
func (s *Service) Get(ctx context.Context, kind Kind, id string) (Item, error) {
	if err := s.check(kind); err != nil {
		return Item{}, err
	}
	if err := checkID(id); err != nil {
		return Item{}, err
	}
	q := Query{Limit: MaxLimit}
	for {
		page, err := s.Find(ctx, kind, q)
		if err != nil {
			return Item{}, err
		}
		for _, it := range page.Items {
			if it.ID == id {
				return it, nil
			}
		}
		if page.Next == "" {
			return Item{}, errorf(ErrNotFound, "%s %.40q", kind, id)
		}
		q.Cursor = page.Next
	}
}
