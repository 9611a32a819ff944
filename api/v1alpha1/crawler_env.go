package v1alpha1

// CrawlerMemoryLimitEnv is the environment variable through which a crawl
// Job gives the crawler its container's memory limit in bytes (downward API,
// limits.memory). Unless GOMEMLIMIT is set, the crawler sets its Go memory
// limit to 90% of it, so the garbage collector works harder before the kernel
// kills the pod.
const CrawlerMemoryLimitEnv = "CRAWLER_MEMORY_LIMIT"
