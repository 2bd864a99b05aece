package rdb

import (
	_ "embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Each script lives in lua/ with a header naming its KEYS and ARGV, and is
// sent with lua/lib.lua in front, or in the place of a line --[[lib]]: a
// script's common case can run before the library's functions are defined,
// which costs about as much as a command. Every key a script names belongs to one
// kind, so each call stays in one Redis Cluster slot, and scripts name only
// the keys they use.
var (
	//go:embed lua/lib.lua
	libLua string

	//go:embed lua/pop.lua
	popLua    string
	popScript = newScript(popLua)

	//go:embed lua/claim.lua
	claimLua    string
	claimScript = newScript(claimLua)

	//go:embed lua/ack.lua
	ackLua    string
	ackScript = newScript(ackLua)

	//go:embed lua/release.lua
	releaseLua    string
	releaseScript = newScript(releaseLua)

	//go:embed lua/remove.lua
	removeLua    string
	removeScript = newScript(removeLua)

	//go:embed lua/expire.lua
	expireLua    string
	expireScript = newScript(expireLua)

	//go:embed lua/migrate.lua
	migrateLua    string
	migrateScript = newScript(migrateLua)

	//go:embed lua/trim.lua
	trimLua    string
	trimScript = newScript(trimLua)
)

func newScript(src string) *redis.Script {
	const mark = "\n--[[lib]]\n"
	if before, after, ok := strings.Cut(src, mark); ok {
		return redis.NewScript(before + "\n" + libLua + after)
	}
	return redis.NewScript(libLua + src)
}
