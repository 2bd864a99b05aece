package rdb

import (
	"embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Each script lives in lua/ with a header naming its KEYS and ARGV. A
// script that uses lua/lib.lua's helpers says where they go with a line
// --[[lib]]: after its header, or after a common case that runs before
// the helpers are defined (defining them costs about as much as a
// command). Every key a script names belongs to one kind, so each call
// stays in one Redis Cluster slot, and scripts name only the keys they
// use.
var (
	popScript     = load("pop")
	claimScript   = load("claim")
	pageScript    = load("page")
	searchScript  = load("search")
	locateScript  = load("locate")
	expireScript  = load("expire")
	migrateScript = load("migrate")
	trimScript    = load("trim")
)

//go:embed lua/*.lua
var luaFiles embed.FS

// load returns the script lua/<name>.lua, with lua/lib.lua in the place of
// its line --[[lib]] if it has one.
func load(name string) *redis.Script {
	src := read(name)
	if before, after, ok := strings.Cut(src, "\n--[[lib]]\n"); ok {
		src = before + "\n" + read("lib") + "\n" + after
	}
	return redis.NewScript(src)
}

func read(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("dlq: embedded script missing: " + err.Error()) // a build without lua/
	}
	return string(b)
}
