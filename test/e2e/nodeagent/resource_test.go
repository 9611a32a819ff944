package nodeagent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Crawl Jobs pass the container's memory limit through resourceFieldRef
// (CRAWLER_MEMORY_LIMIT); the agent renders it as the kubelet does.
func TestResourceFieldValue_AsTheKubeletRendersIt(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "crawler", Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}}}}
	cases := map[string]struct {
		ref  corev1.ResourceFieldSelector
		want string
	}{
		"memory limit in bytes": {corev1.ResourceFieldSelector{ContainerName: "crawler", Resource: "limits.memory"}, "536870912"},
		"memory limit in Mi":    {corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, "512"},
		"cpu request rounds up": {corev1.ResourceFieldSelector{Resource: "requests.cpu"}, "1"},
		"cpu request in milli":  {corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, "100"},
	}
	for name, tc := range cases {
		if got, err := resourceFieldValue(pod, &tc.ref); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, tc.want)
		}
	}
	for _, bad := range []corev1.ResourceFieldSelector{{Resource: "limits.cpu"}, {ContainerName: "other", Resource: "limits.memory"}, {Resource: "bogus.memory"}} {
		if got, err := resourceFieldValue(pod, &bad); err == nil {
			t.Errorf("%+v: %q, want an error", bad, got)
		}
	}
}
