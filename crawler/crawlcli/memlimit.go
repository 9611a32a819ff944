package crawlcli

import (
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// memoryLimitFraction of the container's limit becomes the Go memory limit:
// the rest is room for what the runtime does not count (stacks, cgo, the
// binary) before the kernel kills the pod.
const memoryLimitFraction = 0.9

// goMemoryLimit returns the Go memory limit to set from the environment: 90%
// of the container's memory limit (v1alpha1.CrawlerMemoryLimitEnv, in bytes),
// unless GOMEMLIMIT is set (the runtime already applied it) or there is no
// usable limit (unset, unlimited, or not a number).
func goMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(getenv(v1alpha1.CrawlerMemoryLimitEnv)), 10, 64)
	if err != nil || limit <= 0 || limit == math.MaxInt64 {
		return 0, false
	}
	return int64(float64(limit) * memoryLimitFraction), true
}

// applyMemoryLimit sets the Go memory limit from the environment and returns it.
func applyMemoryLimit(getenv func(string) string) (int64, bool) {
	limit, ok := goMemoryLimit(getenv)
	if ok {
		debug.SetMemoryLimit(limit)
	}
	return limit, ok
}
