package controllers

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestSyncLimiter_CapsRunningSyncsIncludingUncachedLaunches(t *testing.T) {
	ctx := context.Background()
	job := func(name string, done bool) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "a", Labels: map[string]string{JobTypeLabel: JobTypeSync}}}
		if done {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}
		return j
	}
	c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(job("running", false), job("done", true)).Build()
	l := NewSyncLimiter(2)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	created := 0
	create := func() error { created++; return nil }

	// One running, one free slot: the launch is counted before the cache shows it.
	if ok, running, err := l.Start(ctx, c, now, types.NamespacedName{Namespace: "b", Name: "new"}, create); !ok || running != 1 || err != nil {
		t.Fatalf("first start: %v %d %v", ok, running, err)
	}
	if ok, running, _ := l.Start(ctx, c, now, types.NamespacedName{Namespace: "c", Name: "other"}, create); ok || running != 2 {
		t.Fatalf("second start should queue: %v %d", ok, running)
	}
	// An unseen launch stops counting after the grace period.
	if ok, _, _ := l.Start(ctx, c, now.Add(2*time.Minute), types.NamespacedName{Namespace: "c", Name: "other"}, create); !ok {
		t.Fatal("launch grace did not expire")
	}
	if created != 2 {
		t.Fatalf("created %d Jobs", created)
	}
	if NewSyncLimiter(0) != nil {
		t.Fatal("0 means no limit")
	}
}
