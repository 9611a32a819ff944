package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Kubernetes name limits: Job names end up in a label (63 characters), other
// children are DNS subdomains (253).
const (
	maxLabelLength     = 63
	maxSubdomainLength = 253
)

// truncateName shortens name to at most max characters. A shortened name keeps
// a prefix and gains a hash of the whole name, so two long names sharing a
// prefix still differ.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	hash := shortHash(name)
	prefix := strings.TrimRight(name[:max-len(hash)-1], "-.")
	return prefix + "-" + hash
}

// withSuffix returns name-suffix within max characters, shortening name.
func withSuffix(name, suffix string, max int) string {
	return truncateName(name, max-len(suffix)-1) + "-" + suffix
}

// shortHash is the first 8 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// syncJobName is <name>-<unix minutes of the slot>: a crash between creating
// the Job and recording it cannot launch a second Job for the same slot.
func syncJobName(name string, slot time.Time) string {
	return withSuffix(name, strconv.FormatInt(slot.Unix()/60, 10), maxLabelLength)
}

// keyedSyncJobName is <name>-<key>, for syncs that answer one event (a
// request, a Secret change) rather than a minute: such a sync never waits for
// the previous Job's minute to pass, and a crash between creating the Job and
// recording it cannot launch a second Job for the same event.
func keyedSyncJobName(name, key string) string {
	return withSuffix(name, key, maxLabelLength)
}

// cleanupJobName is <name>-cleanup-<attempt>.
func cleanupJobName(name string, attempt int32) string {
	return withSuffix(name, "cleanup-"+strconv.Itoa(int(attempt)), maxLabelLength)
}

// crawlerName names the ServiceAccount, Role and RoleBinding of a data source.
func crawlerName(name string) string {
	return withSuffix(name, "crawler", maxSubdomainLength)
}

// labelValue fits a data source name into a label value.
func labelValue(name string) string {
	return truncateName(name, maxLabelLength)
}
