package dlq

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// Each script lives in lua/ with a header naming its KEYS and ARGV, and is
// sent with lua/lib.lua, the helpers they share, in front. Every key a
// script touches is one kind's list or a helper key tagged with it, so each
// call stays in one Redis Cluster slot.
var (
	//go:embed lua/lib.lua
	libLua string

	//go:embed lua/pop.lua
	popLua    string
	popScript = newScript(popLua)

	//go:embed lua/remove.lua
	removeLua    string
	removeScript = newScript(removeLua)

	// evict.lua runs inside MULTI (see trimOnce), without lib.lua.
	//go:embed lua/evict.lua
	evictLua    string
	evictScript = redis.NewScript(evictLua)

	//go:embed lua/unindex.lua
	unindexLua    string
	unindexScript = newScript(unindexLua)

	//go:embed lua/restore.lua
	restoreLua    string
	restoreScript = newScript(restoreLua)

	//go:embed lua/release.lua
	releaseLua    string
	releaseScript = newScript(releaseLua)

	//go:embed lua/take.lua
	takeLua    string
	takeScript = newScript(takeLua)

	//go:embed lua/info.lua
	infoLua    string
	infoScript = newScript(infoLua)
)

func newScript(src string) *redis.Script { return redis.NewScript(libLua + src) }
