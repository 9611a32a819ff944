package controllers_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/testenv"
)

var dayCounter atomic.Int32

// nextDay returns midnight UTC of a day no earlier test used, so each test
// has its own stretch of fake time and the clock only moves forward.
func nextDay() time.Time {
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
	return start.Add(time.Duration(dayCounter.Add(1)) * 24 * time.Hour)
}

// activeJobName waits for any active Job and returns its name.
func activeJobName(t *testing.T, obj *v1alpha1.ConfluenceDataSource) string {
	t.Helper()
	var name string
	eventually(t, func() error {
		cur := get(t, obj)
		if cur.Status.ActiveJob == nil {
			return fmt.Errorf("no active job; conditions %+v", cur.Status.Conditions)
		}
		name = cur.Status.ActiveJob.Name
		return nil
	})
	return name
}

func patchSpec(t *testing.T, obj *v1alpha1.ConfluenceDataSource, change func(*v1alpha1.ConfluenceDataSource)) {
	t.Helper()
	cur := get(t, obj)
	patch := client.MergeFrom(cur.DeepCopy())
	change(cur)
	if err := k8s.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
}

func basicSecret(t *testing.T, ns string) {
	createSecret(t, ns, "confluence", map[string]string{"username": "bot@example.com", "password": "api-token"})
}

// expectCrawlerRBAC checks the ServiceAccount, and that the Role holds
// exactly rules and is bound to the ServiceAccount, all owned by obj.
func expectCrawlerRBAC(t *testing.T, obj *v1alpha1.ConfluenceDataSource, rules []rbacv1.PolicyRule) {
	t.Helper()
	cur := get(t, obj)
	key := client.ObjectKey{Namespace: obj.Namespace, Name: obj.Name + "-crawler"}
	owned := func(o client.Object) error {
		if !metav1.IsControlledBy(o, cur) {
			return fmt.Errorf("%T %s not controlled by the data source", o, o.GetName())
		}
		return nil
	}
	eventually(t, func() error {
		var sa corev1.ServiceAccount
		if err := k8s.Get(ctx, key, &sa); err != nil {
			return err
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			return fmt.Errorf("ServiceAccount automounts tokens")
		}
		var role rbacv1.Role
		if err := k8s.Get(ctx, key, &role); err != nil {
			return err
		}
		if !reflect.DeepEqual(role.Rules, rules) {
			return fmt.Errorf("role rules\n%+v\nwant\n%+v", role.Rules, rules)
		}
		var binding rbacv1.RoleBinding
		if err := k8s.Get(ctx, key, &binding); err != nil {
			return err
		}
		wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: key.Name}
		wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: key.Name, Namespace: obj.Namespace}}
		if binding.RoleRef != wantRef || !reflect.DeepEqual(binding.Subjects, wantSubjects) {
			return fmt.Errorf("binding %+v %+v", binding.RoleRef, binding.Subjects)
		}
		for _, o := range []client.Object{&sa, &role, &binding} {
			if err := owned(o); err != nil {
				return err
			}
		}
		return nil
	})
}

func crawlerRules(obj *v1alpha1.ConfluenceDataSource, secrets []string, oauth2 bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: secrets}}
	if oauth2 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"patch", "update"}, ResourceNames: []string{"confluence"}})
	}
	return append(rules,
		rbacv1.PolicyRule{APIGroups: []string{"sources.confluence-operator.dev"}, Resources: []string{"confluencedatasources"}, Verbs: []string{"get"}, ResourceNames: []string{obj.Name}},
		rbacv1.PolicyRule{APIGroups: []string{"sources.confluence-operator.dev"}, Resources: []string{"confluencedatasources/status"}, Verbs: []string{"patch"}, ResourceNames: []string{obj.Name}},
	)
}

func TestController_FirstSyncOnCreation_ReadyAfterTheReport(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(10*time.Hour + 30*time.Second))
	obj := newDataSource(ns, "eng-wiki")
	create(t, obj)

	name := jobName(obj, clock.Now())
	job := expectActiveJob(t, obj, name)
	wantArgs := []string{"crawl", "--in-cluster", "--namespace", ns, "--name", "eng-wiki", "--job", name, "--mode", "FullCrawl"}
	if got := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, wantArgs) {
		t.Fatalf("args %q, want %q", got, wantArgs)
	}
	if job.Spec.Template.Spec.Containers[0].Image != crawlerImage || job.Spec.Template.Spec.ServiceAccountName != "eng-wiki-crawler" ||
		job.Labels[v1alpha1.DataSourceLabel] != "eng-wiki" || job.Spec.TTLSecondsAfterFinished != nil {
		t.Fatalf("job %+v", job.ObjectMeta)
	}
	cur := expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSyncInProgress)
	if c := condition(cur, v1alpha1.ConditionReconciling); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Reconciling while the first sync runs: %+v", c)
	}
	if res := kstatusOf(t, cur); res.Status != kstatus.InProgressStatus {
		t.Fatalf("kstatus while the first sync runs: %s (%s)", res.Status, res.Message)
	}
	if c := condition(cur, v1alpha1.ConditionSyncing); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Syncing while a Job runs: %+v", c)
	}
	if !slices.Contains(cur.Finalizers, v1alpha1.Finalizer) {
		t.Fatalf("finalizers %v", cur.Finalizers)
	}
	expectCrawlerRBAC(t, obj, crawlerRules(obj, []string{"confluence"}, false))

	succeed(t, obj, name, 1234)
	cur = expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	if msg := condition(cur, v1alpha1.ConditionReady).Message; msg != "synced 1,234 documents in 4m12s" {
		t.Fatalf("Ready message %q", msg)
	}
	expectKstatus(t, obj, kstatus.CurrentStatus)
	kubectlWait(t, obj)
	eventually(t, func() error {
		for metric, want := range map[string]float64{"confluence_operator_syncs_total": 1, "confluence_operator_documents": 1234} {
			if got := gathered(t, metric, ns, "eng-wiki"); got != want {
				return fmt.Errorf("%s = %v, want %v", metric, got, want)
			}
		}
		return nil
	})
	cur = get(t, obj)
	if c := condition(cur, v1alpha1.ConditionSyncing); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonIdle {
		t.Fatalf("Syncing after the run: %+v", c)
	}
	if cur.Status.ActiveJob != nil || cur.Status.NextSyncTime != nil || cur.Status.LastSync.DocumentsIndexed != 1234 {
		t.Fatalf("status %+v", cur.Status)
	}
	consistently(t, 300*time.Millisecond, func() error {
		if names := jobNames(t, obj); len(names) != 1 {
			return fmt.Errorf("jobs %v, want only the first", names)
		}
		return nil
	})
	eventually(t, func() error {
		if len(events(t, obj, "SyncStarted")) == 0 || len(events(t, obj, "SyncSucceeded")) == 0 {
			return fmt.Errorf("no SyncStarted/SyncSucceeded events")
		}
		return nil
	})
}

// gathered returns the value of a metric series of a data source from the
// manager's registry (the one served on its metrics endpoint).
func gathered(t *testing.T, name, namespace, dataSource string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != namespace || labels["name"] != dataSource {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// kubectlWait runs `kubectl wait --for=condition=Ready` as a user would.
func kubectlWait(t *testing.T, obj *v1alpha1.ConfluenceDataSource) {
	t.Helper()
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Logf("no kubectl in %s, skipping kubectl wait", assets)
		return
	}
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "-n", obj.Namespace,
		"wait", "--for=condition=Ready", "--timeout=10s", "cds/"+obj.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
}

func TestController_ScheduleInTimeZone_NoOverlap_MissedTicksOnce_Prunes(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	day := nextDay()
	// 09:00 in Asia/Kolkata (UTC+05:30, no DST) is 03:30 UTC.
	tick := func(days int) time.Time {
		return day.Add(time.Duration(days)*24*time.Hour + 3*time.Hour + 30*time.Minute)
	}
	setClock(day.Add(3 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Sync.Schedule = "0 9 * * *"
	obj.Spec.Sync.TimeZone = "Asia/Kolkata"
	obj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
	create(t, obj)

	first := activeJobName(t, obj)
	eventually(t, func() error {
		if next := get(t, obj).Status.NextSyncTime; next == nil || !next.Time.Equal(tick(0)) {
			return fmt.Errorf("nextSyncTime %v, want %s", next, tick(0))
		}
		return nil
	})

	// The tick comes while the first sync runs: recorded, not stacked.
	setClock(tick(0).Add(time.Second))
	poke(t, obj)
	eventually(t, func() error {
		if c := condition(get(t, obj), v1alpha1.ConditionSyncing); c == nil || !contains(c.Message, "another sync is due") {
			return fmt.Errorf("Syncing %+v", c)
		}
		return nil
	})
	if names := jobNames(t, obj); !slices.Equal(names, []string{first}) {
		t.Fatalf("jobs during the run %v", names)
	}

	// It runs once after.
	succeed(t, obj, first, 10)
	second := jobName(obj, tick(0))
	expectActiveJob(t, obj, second)
	if last := get(t, obj).Status.LastScheduleTime; last == nil || !last.Time.Equal(tick(0)) {
		t.Fatalf("lastScheduleTime %v", last)
	}
	succeed(t, obj, second, 11)

	// The next day's tick.
	setClock(tick(1).Add(200 * time.Millisecond))
	poke(t, obj)
	third := jobName(obj, tick(1))
	expectActiveJob(t, obj, third)
	succeed(t, obj, third, 12)

	// Three days of downtime: the most recent missed tick runs, once.
	setClock(tick(4).Add(90 * time.Minute))
	poke(t, obj)
	fourth := jobName(obj, tick(4))
	expectActiveJob(t, obj, fourth)
	succeed(t, obj, fourth, 13)

	// History: the two newest successful Jobs stay.
	eventually(t, func() error {
		names := jobNames(t, obj)
		slices.Sort(names)
		want := []string{third, fourth}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			return fmt.Errorf("jobs %v, want %v", names, want)
		}
		return nil
	})
	if next := get(t, obj).Status.NextSyncTime; next == nil || !next.Time.Equal(tick(5)) {
		t.Fatalf("nextSyncTime %v, want %s", next, tick(5))
	}
}

func TestController_RequestedSync_EchoedWithModeOverride(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(12 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Sync.Mode = v1alpha1.SyncIncremental
	create(t, obj)
	first := jobName(obj, clock.Now())
	expectActiveJob(t, obj, first)
	succeed(t, obj, first, 5)

	setClock(clock.Now().Add(2 * time.Minute))
	setAnnotations(t, obj, map[string]string{
		v1alpha1.RequestedSyncAnnotation:     "2031-01-01T10:00:00Z",
		v1alpha1.RequestedSyncModeAnnotation: string(v1alpha1.SyncForcedFullCrawl),
	})
	requested := requestJobName(obj, "", "2031-01-01T10:00:00Z")
	job := expectActiveJob(t, obj, requested)
	if args := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args[len(args)-2:], []string{"--mode", "ForcedFullCrawl"}) {
		t.Fatalf("args %q", args)
	}
	if got := get(t, obj).Status.LastHandledSyncRequest; got != "2031-01-01T10:00:00Z" {
		t.Fatalf("lastHandledSyncRequest %q", got)
	}
	succeed(t, obj, requested, 6)

	// The same request value is not handled twice.
	setClock(clock.Now().Add(2 * time.Minute))
	poke(t, obj)
	consistently(t, 500*time.Millisecond, func() error {
		if cur := get(t, obj); cur.Status.ActiveJob != nil {
			return fmt.Errorf("unexpected job %s", cur.Status.ActiveJob.Name)
		}
		return nil
	})
}

func TestController_RequestedSyncs_InTheSameMinute_EachRunAtOnce(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(13*time.Hour + 10*time.Second))
	obj := newDataSource(ns, "wiki")
	create(t, obj)
	first := jobName(obj, clock.Now())
	expectActiveJob(t, obj, first)
	succeed(t, obj, first, 5)

	// The fake clock never moves: each request gets its own Job at once,
	// instead of waiting for the minute after the previous Job's.
	handled := ""
	for i, request := range []string{"a", "b"} {
		setAnnotations(t, obj, map[string]string{v1alpha1.RequestedSyncAnnotation: request})
		name := requestJobName(obj, handled, request)
		job := expectActiveJob(t, obj, name)
		if job.Annotations["sources.confluence-operator.dev/trigger"] != "Request" {
			t.Fatalf("job %s annotations %v", name, job.Annotations)
		}
		if got := get(t, obj).Status.LastHandledSyncRequest; got != request {
			t.Fatalf("lastHandledSyncRequest %q, want %q", got, request)
		}
		succeed(t, obj, name, int64(6+i))
		handled = request
	}
	want := []string{first, requestJobName(obj, "", "a"), requestJobName(obj, "a", "b")}
	if names := jobNames(t, obj); !slices.Equal(sorted(names), sorted(want)) {
		t.Fatalf("jobs %v, want %v", names, want)
	}
	// Handled requests are not handled again.
	poke(t, obj)
	consistently(t, 500*time.Millisecond, func() error {
		if cur := get(t, obj); cur.Status.ActiveJob != nil {
			return fmt.Errorf("unexpected job %s", cur.Status.ActiveJob.Name)
		}
		return nil
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestController_CredentialsRejected_FixedSecretRetriesOncePerChange(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	createSecret(t, ns, "confluence", map[string]string{"username": "bot@example.com", "password": "wrong"})
	setClock(nextDay().Add(11 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](0)
	obj.Spec.FailedJobsHistoryLimit = ptr.To[int32](5)
	create(t, obj)
	first := activeJobName(t, obj)

	fail(t, obj, first, v1alpha1.ReasonCredentialsRejected)
	cur := expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialsRejected)
	if cur.Status.FailedSecretVersions["confluence"] == "" {
		t.Fatalf("failedSecretVersions %v", cur.Status.FailedSecretVersions)
	}
	// Nothing retries until the Secret changes.
	poke(t, obj)
	consistently(t, 500*time.Millisecond, func() error {
		if names := jobNames(t, obj); len(names) != 1 {
			return fmt.Errorf("jobs %v before the Secret changed", names)
		}
		return nil
	})

	// Fixing the password is enough: no request, no clock move.
	start := clock.Now()
	patchSecret(t, ns, "confluence", map[string]string{"password": "right"})
	second := activeJobName(t, obj)
	job := &batchv1.Job{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: second}, job); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "confluence"}, secret); err != nil {
		t.Fatal(err)
	}
	versions := job.Annotations["sources.confluence-operator.dev/secret-versions"]
	if second == first || job.Annotations["sources.confluence-operator.dev/trigger"] != "SecretChanged" ||
		versions != fmt.Sprintf(`{"confluence":%q}`, secret.ResourceVersion) || !clock.Now().Equal(start) {
		t.Fatalf("retry job %s annotations %v", second, job.Annotations)
	}
	if cur := get(t, obj); cur.Status.FailedSecretVersions != nil {
		t.Fatalf("failedSecretVersions %v kept after the retry started", cur.Status.FailedSecretVersions)
	}

	// Still rejected: one retry per change, not a loop.
	fail(t, obj, second, v1alpha1.ReasonCredentialsRejected)
	expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialsRejected)
	poke(t, obj)
	consistently(t, 500*time.Millisecond, func() error {
		cur := get(t, obj)
		if names := jobNames(t, obj); len(names) != 2 || cur.Status.ActiveJob != nil {
			return fmt.Errorf("jobs %v active %+v after the retry failed", names, cur.Status.ActiveJob)
		}
		return nil
	})

	// The next fix retries again, and succeeds.
	patchSecret(t, ns, "confluence", map[string]string{"password": "right-now"})
	third := activeJobName(t, obj)
	if third == second || third == first {
		t.Fatalf("no new job: %s", third)
	}
	succeed(t, obj, third, 3)
	cur = expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	if cur.Status.FailedSecretVersions != nil {
		t.Fatalf("failedSecretVersions %v after success", cur.Status.FailedSecretVersions)
	}
}

func TestController_Suspend_StopsSchedulingButNotARunningJob(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(8 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Sync.Schedule = "*/5 * * * *"
	obj.Spec.Sync.Suspend = true
	create(t, obj)

	cur := expectCondition(t, obj, v1alpha1.ConditionSyncing, metav1.ConditionFalse, v1alpha1.ReasonSuspended)
	if c := condition(cur, v1alpha1.ConditionReady); c.Reason != v1alpha1.ReasonSuspended || condition(cur, v1alpha1.ConditionReconciling) != nil {
		t.Fatalf("conditions %+v", cur.Status.Conditions)
	}
	if cur.Status.NextSyncTime != nil || len(jobNames(t, obj)) != 0 {
		t.Fatalf("suspended: next %v jobs %v", cur.Status.NextSyncTime, jobNames(t, obj))
	}

	patchSpec(t, obj, func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = false })
	running := activeJobName(t, obj)

	patchSpec(t, obj, func(o *v1alpha1.ConfluenceDataSource) { o.Spec.Sync.Suspend = true })
	setClock(clock.Now().Add(time.Hour))
	poke(t, obj)
	consistently(t, 500*time.Millisecond, func() error {
		cur := get(t, obj)
		if cur.Status.ActiveJob == nil || cur.Status.ActiveJob.Name != running || !slices.Equal(jobNames(t, obj), []string{running}) {
			return fmt.Errorf("running job touched: active %+v jobs %v", cur.Status.ActiveJob, jobNames(t, obj))
		}
		return nil
	})
}

func TestController_MissingSecret_StalledUntilItAppears(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	setClock(nextDay().Add(9 * time.Hour))
	obj := newDataSource(ns, "wiki")
	create(t, obj)

	cur := expectCondition(t, obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound)
	if msg := condition(cur, v1alpha1.ConditionStalled).Message; !contains(msg, `Secret "confluence"`) {
		t.Fatalf("message %q does not name the Secret", msg)
	}
	if c := condition(cur, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonSecretNotFound ||
		condition(cur, v1alpha1.ConditionReconciling) != nil || cur.Status.ObservedGeneration != cur.Generation {
		t.Fatalf("status %+v", cur.Status)
	}
	if names := jobNames(t, obj); len(names) != 0 {
		t.Fatalf("jobs %v while stalled", names)
	}
	if res := kstatusOf(t, cur); res.Status != kstatus.FailedStatus {
		t.Fatalf("kstatus while stalled: %s (%s)", res.Status, res.Message)
	}

	createSecret(t, ns, "confluence", map[string]string{"username": "bot"})
	cur = expectCondition(t, obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretKeyMissing)
	if msg := condition(cur, v1alpha1.ConditionStalled).Message; !contains(msg, `lacks key "password"`) || contains(msg, "bot") {
		t.Fatalf("message %q", msg)
	}

	// Fixing the Secret is enough: no requeue timer, no poke.
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "confluence"}, secret); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(secret.DeepCopy())
	secret.StringData = map[string]string{"password": "token"}
	if err := k8s.Patch(ctx, secret, patch); err != nil {
		t.Fatal(err)
	}
	activeJobName(t, obj)
	if c := condition(get(t, obj), v1alpha1.ConditionStalled); c != nil {
		t.Fatalf("still stalled: %+v", c)
	}
}

func TestController_JobFailureWithoutReport_IsReflected(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(9 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](0)
	create(t, obj)
	name := activeJobName(t, obj)

	finishPod(t, ns, name, false)
	cur := expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonJobFailed)
	ready := condition(cur, v1alpha1.ConditionReady)
	if !contains(ready.Message, name) || !contains(ready.Message, "BackoffLimitExceeded") {
		t.Fatalf("Ready message %q", ready.Message)
	}
	if c := condition(cur, v1alpha1.ConditionSyncFailed); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonJobFailed {
		t.Fatalf("SyncFailed %+v", c)
	}
	if cur.Status.ActiveJob != nil || condition(cur, v1alpha1.ConditionReconciling) != nil || condition(cur, v1alpha1.ConditionStalled) != nil {
		t.Fatalf("status %+v", cur.Status)
	}
	eventually(t, func() error {
		if evs := events(t, obj, v1alpha1.ReasonJobFailed); len(evs) == 0 || evs[0].Type != corev1.EventTypeWarning {
			return fmt.Errorf("no Warning JobFailed event")
		}
		return nil
	})
	// The failed first sync is not retried in a loop.
	consistently(t, 500*time.Millisecond, func() error {
		if names := jobNames(t, obj); len(names) != 1 {
			return fmt.Errorf("jobs %v", names)
		}
		return nil
	})
}

func TestController_OAuth2_CrawlerMayRotateItsRefreshToken(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	createSecret(t, ns, "confluence", map[string]string{
		"confluenceAppKey": "k", "confluenceAppSecret": "s", "confluenceAccessToken": "a", "confluenceRefreshToken": "r",
	})
	createSecret(t, ns, "os-creds", map[string]string{"apiKey": "key"})
	createSecret(t, ns, "os-ca", map[string]string{"ca.crt": "pem"})
	obj := newDataSource(ns, "oauth")
	obj.Spec.Confluence.Auth.Type = v1alpha1.AuthOAuth2
	obj.Spec.OpenSearch.Auth = &v1alpha1.OpenSearchAuth{SecretRef: v1alpha1.SecretReference{Name: "os-creds"}}
	obj.Spec.OpenSearch.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.SecretReference{Name: "os-ca"}}
	create(t, obj)
	expectCrawlerRBAC(t, obj, crawlerRules(obj, []string{"confluence", "os-ca", "os-creds"}, true))
	activeJobName(t, obj)
}

func TestController_DeletePolicy_CleanupRetriedThenReleased(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(9 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](0)
	create(t, obj)
	running := activeJobName(t, obj)

	if err := k8s.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	// The running sync is stopped before documents are removed.
	eventually(t, func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: running}, &batchv1.Job{})
		if !isNotFound(err) {
			return fmt.Errorf("sync job %s still there (%v)", running, err)
		}
		return nil
	})
	cleanup := &batchv1.Job{}
	eventually(t, func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wiki-cleanup-1"}, cleanup)
	})
	want := []string{"crawl", "--in-cluster", "--namespace", ns, "--name", "wiki", "--cleanup"}
	if args := cleanup.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, want) {
		t.Fatalf("cleanup args %q", args)
	}

	finishPod(t, ns, "wiki-cleanup-1", false)
	cur := expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCleanupFailed)
	if !contains(cur.Status.CleanupMessage, "cleanup job wiki-cleanup-1 failed") || cur.Status.CleanupAttempts != 1 {
		t.Fatalf("cleanup status %q attempts %d", cur.Status.CleanupMessage, cur.Status.CleanupAttempts)
	}

	// After the backoff, a second attempt runs; it succeeds and releases.
	setClock(clock.Now().Add(11 * time.Second))
	poke(t, obj)
	eventually(t, func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wiki-cleanup-2"}, &batchv1.Job{})
	})
	finishPod(t, ns, "wiki-cleanup-2", true)
	eventually(t, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.ConfluenceDataSource{}); !isNotFound(err) {
			return fmt.Errorf("data source still there (%v)", err)
		}
		return nil
	})
}

func TestController_RetainPolicy_ReleasesAtOnce_AlsoDuringAStuckCleanup(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(9 * time.Hour))

	retained := newDataSource(ns, "retained")
	create(t, retained)
	activeJobName(t, retained)
	if err := k8s.Delete(ctx, retained); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(retained), &v1alpha1.ConfluenceDataSource{}); !isNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})

	stuck := newDataSource(ns, "stuck")
	stuck.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	stuck.Spec.Crawler.BackoffLimit = ptr.To[int32](0)
	create(t, stuck)
	running := activeJobName(t, stuck)
	finishPod(t, ns, running, false)
	expectCondition(t, stuck, v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, v1alpha1.ReasonJobFailed)
	if err := k8s.Delete(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stuck-cleanup-1"}, &batchv1.Job{})
	})
	finishPod(t, ns, "stuck-cleanup-1", false)
	expectCondition(t, stuck, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCleanupFailed)
	patchSpec(t, stuck, func(o *v1alpha1.ConfluenceDataSource) { o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
	eventually(t, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(stuck), &v1alpha1.ConfluenceDataSource{}); !isNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
}

// The Job controller applies the pod failure policy of TEAM.md: an evicted
// crawler is retried without counting, whatever it exited with; a Go panic
// (exit 2) counts toward backoffLimit like any crash; bad input (exit 64)
// fails the Job at once.
func TestController_PodFailurePolicy_EvictionRetried_PanicCounts_BadInputFails(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(9 * time.Hour))
	obj := newDataSource(ns, "wiki")
	obj.Spec.Crawler.BackoffLimit = ptr.To[int32](1)
	create(t, obj)
	name := activeJobName(t, obj)

	pods := func() int {
		var list corev1.PodList
		if err := k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{batchv1.JobNameLabel: name}); err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	job := func() *batchv1.Job {
		j := &batchv1.Job{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	expectRetry := func(wantPods int, wantFailed int32) {
		t.Helper()
		eventually(t, func() error {
			j := job()
			if finished, _ := jobFinished(j); finished {
				return fmt.Errorf("job finished: %+v", j.Status.Conditions)
			}
			if n := pods(); n != wantPods || j.Status.Failed != wantFailed {
				return fmt.Errorf("%d pods, %d counted failures; want %d, %d", n, j.Status.Failed, wantPods, wantFailed)
			}
			return nil
		})
	}

	// Evicted, and the crawler exits with what looks like bad input: retried, not counted.
	terminatePod(t, ns, name, 64, true)
	expectRetry(2, 0)
	// A panic counts, one retry left.
	terminatePod(t, ns, name, 2, false)
	expectRetry(3, 1)
	// Bad input fails the Job at once, by the policy rather than the backoff limit.
	terminatePod(t, ns, name, 64, false)
	eventually(t, func() error {
		c := jobFailedCondition(job())
		if c == nil || c.Reason != batchv1.JobReasonPodFailurePolicy {
			return fmt.Errorf("Failed condition %+v, want reason PodFailurePolicy", c)
		}
		return nil
	})
	cur := expectCondition(t, obj, v1alpha1.ConditionSyncFailed, metav1.ConditionTrue, v1alpha1.ReasonJobFailed)
	if msg := condition(cur, v1alpha1.ConditionSyncFailed).Message; !contains(msg, "PodFailurePolicy") {
		t.Fatalf("SyncFailed message %q", msg)
	}
}

func jobFinished(j *batchv1.Job) (bool, bool) {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return true, c.Type == batchv1.JobComplete
		}
	}
	return false, false
}

func jobFailedCondition(j *batchv1.Job) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// The README invites editing the spec; the edit reaches the index by itself.
func TestController_SpecEdit_SyncsAfterTheDebounce_ReadyOutdatedUntilThen(t *testing.T) {
	skipShort(t)
	ns := newNamespace(t)
	basicSecret(t, ns)
	setClock(nextDay().Add(14 * time.Hour))
	obj := newDataSource(ns, "wiki")
	create(t, obj)
	first := jobName(obj, clock.Now())
	expectActiveJob(t, obj, first)
	succeed(t, obj, first, 40)
	expectKstatus(t, obj, kstatus.CurrentStatus)

	patchSpec(t, obj, func(o *v1alpha1.ConfluenceDataSource) {
		o.Spec.Filters.Spaces.Include = []v1alpha1.Regex{"ENG"}
	})
	cur := expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing)
	if msg := condition(cur, v1alpha1.ConditionReady).Message; !contains(msg, "the index reflects generation 1; generation 2 changes what is indexed") {
		t.Fatalf("Ready message %q", msg)
	}
	if res := kstatusOf(t, cur); res.Status != kstatus.InProgressStatus || cur.Status.ObservedGeneration != 2 {
		t.Fatalf("kstatus %s observedGeneration %d", res.Status, cur.Status.ObservedGeneration)
	}
	if names := jobNames(t, obj); len(names) != 1 {
		t.Fatalf("jobs %v before the debounce", names)
	}

	setClock(clock.Now().Add(31 * time.Second))
	poke(t, obj)
	second := activeJobName(t, obj)
	job := &batchv1.Job{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: second}, job); err != nil {
		t.Fatal(err)
	}
	if second == first || job.Annotations["sources.confluence-operator.dev/trigger"] != "SpecChanged" ||
		job.Annotations["sources.confluence-operator.dev/generation"] != "2" {
		t.Fatalf("job %s annotations %v", second, job.Annotations)
	}
	succeed(t, obj, second, 30)
	cur = expectCondition(t, obj, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSynced)
	if cur.Status.IndexedSpec == nil || cur.Status.IndexedSpec.Generation != 2 {
		t.Fatalf("indexedSpec %+v", cur.Status.IndexedSpec)
	}
	expectKstatus(t, obj, kstatus.CurrentStatus)
}
