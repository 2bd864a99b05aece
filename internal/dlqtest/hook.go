package dlqtest

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// AfterReply is a go-redis hook (add it with AddHook) that calls its
// function with each command once the command's reply has arrived, sent
// alone or in a pipeline (then each command of the pipeline, in order). A
// test adds it to a client that only the code under test uses, to act
// between a read of that code and what the code does next, as another
// process could. The function runs on the caller's goroutine and must not
// use the hooked client.
type AfterReply func(ctx context.Context, cmd redis.Cmder)

var _ redis.Hook = AfterReply(nil)

// DialHook leaves dialing alone.
func (f AfterReply) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook calls f after the command's reply.
func (f AfterReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		f(ctx, cmd)
		return err
	}
}

// ProcessPipelineHook calls f with each command after the pipeline's
// replies.
func (f AfterReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			f(ctx, cmd)
		}
		return err
	}
}
