package dlq

// readID reads the id of a stored entry without decoding the rest of it:
// it walks the top level of the JSON object, skipping every other value
// whatever it holds (invalid UTF-8, nesting of any depth), so that an
// entry whose other fields cannot be decoded can still be found, popped
// and deleted by its id. ok is false when the entry is not a JSON object,
// has no "id" key whose value is a non-empty string, or has more than one
// "id" key (however spaced, escaped or cased: encoding/json reads "ID" as
// the id): Lua and Go could then disagree on
// which entry an id names.
func readID(raw string) (id string, ok bool) {
	id, n := topLevelIDs(raw)
	return id, n == 1 && id != ""
}

// topLevelIDs returns the value of the last top-level "id" key that holds
// a string and how many top-level "id" keys the object has (-1 when raw is
// not an object this reader can walk).
func topLevelIDs(raw string) (id string, n int) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", -1
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return "", 0
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return "", -1
		}
		key, j, ok := scanString(raw, i)
		if !ok {
			return "", -1
		}
		i = skipSpace(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return "", -1
		}
		i = skipSpace(raw, i+1)
		// encoding/json (Item.UnmarshalJSON) matches keys to fields in
		// any case: "ID" and "Id" are id keys too.
		if k := key.text(); len(k) == 2 && k[0]|0x20 == 'i' && k[1]|0x20 == 'd' {
			n++
			if i < len(raw) && raw[i] == '"' {
				v, j, ok := scanString(raw, i)
				if !ok {
					return "", -1
				}
				id, i = v.text(), j
			} else if i, ok = skipJSON(raw, i); !ok {
				return "", -1
			}
		} else if i, ok = skipJSON(raw, i); !ok {
			return "", -1
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return "", -1
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return id, n
		default:
			return "", -1
		}
	}
}

// skipJSON returns the index just past the JSON value at i. It checks
// only what it needs to find the value's end: brackets balance, strings
// close. Its depth has no limit and it keeps no stack.
func skipJSON(s string, i int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	switch s[i] {
	case '"':
		_, j, ok := scanString(s, i)
		return j, ok
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				_, j, ok := scanString(s, i)
				if !ok {
					return i, false
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' &&
		s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
		j++
	}
	return j, j > i
}
