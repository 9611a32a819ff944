package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// Default resources of the crawler container, from docs/benchmarks.md: the
// real binary peaks at 160 MiB RSS crawling 100,000 pages; attachments are
// buffered up to maxAttachmentSize (50Mi by default) while parsed, a few
// spaces at a time, so the limit leaves about 350 MiB above the page crawl.
// No CPU limit: throttling a crawl only makes it slower, the request is what
// the scheduler needs.
var (
	defaultCrawlerCPURequest    = resource.MustParse("100m")
	defaultCrawlerMemoryRequest = resource.MustParse("256Mi")
	defaultCrawlerMemoryLimit   = resource.MustParse("512Mi")
)

// crawlerResources is spec.crawler.resources with the defaults filled in
// where the user set nothing, keeping requests at or below limits, so a
// crawl Job is never BestEffort and always has a memory limit.
func crawlerResources(spec corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := *spec.DeepCopy()
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	if out.Limits == nil {
		out.Limits = corev1.ResourceList{}
	}
	if _, ok := out.Requests[corev1.ResourceCPU]; !ok {
		if l, limited := out.Limits[corev1.ResourceCPU]; limited && l.Cmp(defaultCrawlerCPURequest) < 0 {
			out.Requests[corev1.ResourceCPU] = l
		} else {
			out.Requests[corev1.ResourceCPU] = defaultCrawlerCPURequest
		}
	}
	req, hasReq := out.Requests[corev1.ResourceMemory]
	lim, hasLim := out.Limits[corev1.ResourceMemory]
	switch {
	case !hasReq && !hasLim:
		out.Requests[corev1.ResourceMemory] = defaultCrawlerMemoryRequest
		out.Limits[corev1.ResourceMemory] = defaultCrawlerMemoryLimit
	case !hasLim:
		lim = defaultCrawlerMemoryLimit
		if req.Cmp(lim) > 0 {
			lim = req
		}
		out.Limits[corev1.ResourceMemory] = lim
	case !hasReq:
		req = defaultCrawlerMemoryRequest
		if req.Cmp(lim) > 0 {
			req = lim
		}
		out.Requests[corev1.ResourceMemory] = req
	}
	return out
}

// memoryLimitEnv exposes the crawler container's memory limit to it; the
// crawler derives GOMEMLIMIT from it (v1alpha1.CrawlerMemoryLimitEnv).
func memoryLimitEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: v1alpha1.CrawlerMemoryLimitEnv, ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: crawlerContainer, Resource: "limits.memory"},
	}}
}
