package spark

import (
	"k8s.io/utils/ptr"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestPhase(t *testing.T) {
	cases := []struct {
		state         sparkv1beta2.ApplicationStateType
		phase, reason string
	}{
		{"", plugins.PhaseQueued, "job queued"},
		{sparkv1beta2.ApplicationStateSubmitted, plugins.PhaseInitializing, "job submitted"},
		{sparkv1beta2.ApplicationStateRunning, plugins.PhaseRunning, ""},
		{sparkv1beta2.ApplicationStateCompleted, plugins.PhaseSuccess, ""},
		{sparkv1beta2.ApplicationStateFailed, plugins.PhaseRetryableFailure, ""},
		{sparkv1beta2.ApplicationStateFailedSubmission, plugins.PhaseRetryableFailure, ""},
		{sparkv1beta2.ApplicationStatePendingRerun, plugins.PhaseRunning, ""},
		{sparkv1beta2.ApplicationStateInvalidating, plugins.PhaseRunning, ""},
		{sparkv1beta2.ApplicationStateSucceeding, plugins.PhaseRunning, ""},
		{sparkv1beta2.ApplicationStateFailing, plugins.PhaseRunning, ""},
		{sparkv1beta2.ApplicationStateUnknown, plugins.PhaseRunning, ""},
	}
	cfg := config.Default()
	for _, c := range cases {
		t.Run(string(c.state), func(t *testing.T) {
			app := &sparkv1beta2.SparkApplication{}
			app.Name, app.Namespace = "a", "p-d"
			app.Status.AppState = sparkv1beta2.ApplicationState{State: c.state, ErrorMessage: "boom"}
			info := New().Phase(app, cfg, time.Now())
			require.Equal(t, c.phase, info.Phase)
			require.Equal(t, c.reason, info.Reason)
			if c.state == sparkv1beta2.ApplicationStateFailedSubmission {
				require.Equal(t, "Spark Job  Submission Failed with Error: boom", info.Message)
			}
		})
	}
}

func TestDriverUILink(t *testing.T) {
	app := &sparkv1beta2.SparkApplication{}
	app.Name, app.Namespace = "a", "p-d"
	app.Status.AppState.State = sparkv1beta2.ApplicationStateRunning
	app.Status.DriverInfo = sparkv1beta2.DriverInfo{PodName: "a-driver", WebUIIngressAddress: "spark-ui.example.com"}
	info := New().Phase(app, config.Default(), time.Now())
	require.Equal(t, "Kubernetes Logs(Driver Logs)", info.Logs[0].Name)
	last := info.Logs[len(info.Logs)-1]
	require.Equal(t, "Spark Driver UI", last.Name)
	require.Equal(t, "https://spark-ui.example.com", last.URI)
}

func TestValidateDriverNotInterruptible(t *testing.T) {
	cfg := config.Default()
	k := &cfg.Plugins.K8s
	k.InterruptibleTolerations = []corev1.Toleration{{Key: "spot", Operator: "Exists", Effect: "NoSchedule"}}
	k.InterruptibleNodeSelector = config.StringMap{"lifecycle": "spot"}
	k.InterruptibleNodeSelectorRequirement = &corev1.NodeSelectorRequirement{Key: "lifecycle", Operator: "In", Values: []string{"spot"}}
	app := &sparkv1beta2.SparkApplication{}
	app.Spec.MainApplicationFile = ptr.To("local:///app.py")
	require.Empty(t, New().Validate(app, cfg))
	app.Spec.Driver.Tolerations = []corev1.Toleration{{Key: "spot", Operator: "Exists", Effect: "NoSchedule"}}
	app.Spec.Driver.NodeSelector = map[string]string{"lifecycle": "spot"}
	app.Spec.Driver.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{*k.InterruptibleNodeSelectorRequirement}}}}}}
	errs := New().Validate(app, cfg)
	require.Len(t, errs, 3)
	require.Equal(t, "spec.driver.tolerations[0]", errs[0].Field)
	require.Equal(t, "spec.driver.nodeSelector[lifecycle]", errs[1].Field)
	require.Contains(t, errs[2].Field, "spec.driver.affinity.nodeAffinity")
	// The executor may be interruptible.
	app.Spec.Driver = sparkv1beta2.DriverSpec{}
	app.Spec.Executor.Tolerations = []corev1.Toleration{{Key: "spot", Operator: "Exists", Effect: "NoSchedule"}}
	require.Empty(t, New().Validate(app, cfg))
}

func TestValidateOperatorRules(t *testing.T) {
	cases := []struct {
		name   string
		change func(app *sparkv1beta2.SparkApplication)
		fields []string
		detail string
	}{
		{"valid", func(*sparkv1beta2.SparkApplication) {}, nil, ""},
		{"no main application file", func(app *sparkv1beta2.SparkApplication) { app.Spec.MainApplicationFile = nil },
			[]string{"spec.mainApplicationFile"}, "primary resource"},
		{"empty main application file", func(app *sparkv1beta2.SparkApplication) { app.Spec.MainApplicationFile = ptr.To("") },
			[]string{"spec.mainApplicationFile"}, "primary resource"},
		{"spark.master in sparkConf", func(app *sparkv1beta2.SparkApplication) {
			app.Spec.SparkConf = map[string]string{"spark.master": "k8s://https://kubernetes.default.svc:443", "spark.executor.cores": "2"}
		}, []string{"spec.sparkConf[spark.master]"}, "managed by the operator"},
		{"images and service account in sparkConf", func(app *sparkv1beta2.SparkApplication) {
			app.Spec.SparkConf = map[string]string{"spark.kubernetes.container.image": "x", "spark.kubernetes.authenticate.driver.serviceAccountName": "sa"}
		}, []string{"spec.sparkConf[spark.kubernetes.authenticate.driver.serviceAccountName]", "spec.sparkConf[spark.kubernetes.container.image]"}, "spark-operator refuses"},
		{"another namespace in sparkConf", func(app *sparkv1beta2.SparkApplication) {
			app.Spec.SparkConf = map[string]string{"spark.kubernetes.namespace": "other"}
		}, []string{"spec.sparkConf[spark.kubernetes.namespace]"}, `namespace "p-d"`},
		{"its own namespace in sparkConf", func(app *sparkv1beta2.SparkApplication) {
			app.Spec.SparkConf = map[string]string{"spark.kubernetes.namespace": "p-d"}
		}, nil, ""},
		{"name not a DNS-1035 label", func(app *sparkv1beta2.SparkApplication) { app.Name = "1-etl.daily" },
			[]string{"metadata.name"}, "DNS-1035"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := &sparkv1beta2.SparkApplication{}
			app.Name, app.Namespace = "etl", "p-d"
			app.Spec.MainApplicationFile = ptr.To("local:///app.py")
			c.change(app)
			errs := New().Validate(app, config.Default())
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				require.Contains(t, e.Detail, c.detail)
			}
			require.Equal(t, c.fields, fields)
		})
	}
}

func TestDropOperatorManagedConf(t *testing.T) {
	conf := map[string]string{"spark.master": "k8s://x", "spark.kubernetes.driver.master": "k8s://y",
		"spark.kubernetes.namespace": "other", "spark.executor.cores": "2"}
	dropOperatorManagedConf(conf, "p-d")
	require.Equal(t, map[string]string{"spark.executor.cores": "2"}, conf)
	conf = map[string]string{"spark.kubernetes.namespace": "p-d"}
	dropOperatorManagedConf(conf, "p-d")
	require.Equal(t, map[string]string{"spark.kubernetes.namespace": "p-d"}, conf, "the application's own namespace stays")
}
