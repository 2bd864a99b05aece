package dlq

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// Each script lives in lua/ with a header naming its KEYS and ARGV. Every
// key a script touches is one kind's list or a helper key tagged with it, so
// each call stays in one Redis Cluster slot.
var (
	//go:embed lua/push.lua
	pushLua    string
	pushScript = redis.NewScript(pushLua)

	//go:embed lua/pop.lua
	popLua    string
	popScript = redis.NewScript(popLua)

	//go:embed lua/remove.lua
	removeLua    string
	removeScript = redis.NewScript(removeLua)
)
