package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

func TestCrawlerResources_NeverBestEffortAlwaysAMemoryLimit(t *testing.T) {
	q := resource.MustParse
	list := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = q(kv[i+1])
		}
		return l
	}
	cases := map[string]struct {
		in                 corev1.ResourceRequirements
		cpuReq, memReq     string
		memLimit, cpuLimit string
	}{
		"nothing set: the defaults": {in: corev1.ResourceRequirements{}, cpuReq: "100m", memReq: "256Mi", memLimit: "512Mi"},
		"only a memory limit": {
			in:     corev1.ResourceRequirements{Limits: list("memory", "1Gi")},
			cpuReq: "100m", memReq: "256Mi", memLimit: "1Gi",
		},
		"a memory limit below the default request": {
			in:     corev1.ResourceRequirements{Limits: list("memory", "128Mi")},
			cpuReq: "100m", memReq: "128Mi", memLimit: "128Mi",
		},
		"a memory request above the default limit": {
			in:     corev1.ResourceRequirements{Requests: list("memory", "2Gi")},
			cpuReq: "100m", memReq: "2Gi", memLimit: "2Gi",
		},
		"a cpu limit below the default request": {
			in:     corev1.ResourceRequirements{Limits: list("cpu", "50m")},
			cpuReq: "50m", memReq: "256Mi", memLimit: "512Mi", cpuLimit: "50m",
		},
		"everything set is kept": {
			in:     corev1.ResourceRequirements{Requests: list("cpu", "1", "memory", "1Gi"), Limits: list("cpu", "2", "memory", "3Gi")},
			cpuReq: "1", memReq: "1Gi", memLimit: "3Gi", cpuLimit: "2",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := tc.in.DeepCopy()
			got := crawlerResources(tc.in)
			if !equalQuantity(got.Requests, corev1.ResourceCPU, tc.cpuReq) || !equalQuantity(got.Requests, corev1.ResourceMemory, tc.memReq) ||
				!equalQuantity(got.Limits, corev1.ResourceMemory, tc.memLimit) || !equalQuantity(got.Limits, corev1.ResourceCPU, tc.cpuLimit) {
				t.Fatalf("resources = %+v", got)
			}
			if in.String() != tc.in.String() {
				t.Fatal("the spec was modified")
			}
		})
	}
}

func equalQuantity(l corev1.ResourceList, name corev1.ResourceName, want string) bool {
	got, ok := l[name]
	if want == "" {
		return !ok
	}
	return ok && got.Cmp(resource.MustParse(want)) == 0
}

func TestSyncJob_CrawlerGetsItsMemoryLimitAsEnv(t *testing.T) {
	obj := testDataSource("eng-wiki")
	job := newSyncJob(obj, "img:1", scheduleDecision{Trigger: triggerSchedule}, "FullCrawl", nil)
	c := job.Spec.Template.Spec.Containers[0]
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Fatalf("crawl Job without default resources: %+v", c.Resources)
	}
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == v1alpha1.CrawlerMemoryLimitEnv {
			env = &c.Env[i]
		}
	}
	if env == nil || env.ValueFrom == nil || env.ValueFrom.ResourceFieldRef == nil ||
		env.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || env.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
		t.Fatalf("env %+v: want %s from the container's limits.memory", c.Env, v1alpha1.CrawlerMemoryLimitEnv)
	}
}
