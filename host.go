package dlq

import "strings"

// Host returns the host an error text names: the host of its first URL
// (scheme://host…), lower case, without user info, port, brackets or a
// trailing dot; when it has no URL, the host of Python's urllib3
// (host='shop.example.com') or of Go's resolver (lookup shop.example.com).
// It returns "" when the text names none. Like [Signature], it reads
// only the first 64 KiB of errText, once.
//
//	Get "https://Shop.Example.com:8443/p/1": EOF          →  shop.example.com
//	HTTPSConnectionPool(host='b.org', port=443): …          →  b.org
//	dial tcp: lookup c.net on 127.0.0.53:53: no such host  →  c.net
//	Get "http://[::1]:80/x": EOF                            →  ::1
func Host(errText string) string {
	s := cutUTF8(errText, signatureRead)
	if locs := urls(s, 1); len(locs) > 0 {
		u := trimURL(s[locs[0][0]:locs[0][1]])
		u = u[strings.Index(u, "://")+len("://"):]
		if j := strings.IndexAny(u, "/?#"); j >= 0 {
			u = u[:j]
		}
		if j := strings.LastIndexByte(u, '@'); j >= 0 {
			u = u[j+1:]
		}
		return cleanHost(u)
	}
	for _, p := range []string{"host='", `host="`, "lookup "} {
		if i := strings.Index(s, p); i >= 0 {
			h := s[i+len(p):]
			if j := strings.IndexAny(h, ` '",;)`+"\t\n"); j >= 0 {
				h = h[:j]
			}
			return cleanHost(h)
		}
	}
	return ""
}

// cleanHost lower-cases host[:port] and drops its port, the brackets of
// an IPv6 address and a trailing dot.
func cleanHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if j := strings.IndexByte(h, ']'); j >= 0 {
			return strings.ToLower(h[1:j])
		}
		return ""
	}
	if j := strings.LastIndexByte(h, ':'); j >= 0 {
		h = h[:j]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
