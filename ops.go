package dlq

type opsState struct{}
