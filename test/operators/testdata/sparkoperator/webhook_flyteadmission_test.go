package webhook

// Dropped into a temporary copy of spark-operator's module by
// flyte-admission's test/operators: runs the operator's own defaulter,
// validator and driver/executor pod mutation on flyte-admission's
// expansions (FLYTE_ADMISSION_CASES). Not built as part of flyte-admission.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/kubeflow/spark-operator/v2/pkg/common"
)

type flyteCase struct {
	Name         string                          `json:"name"`
	App          json.RawMessage                 `json:"app"`
	Tolerations  []corev1.Toleration             `json:"interruptibleTolerations"`
	NodeSelector map[string]string               `json:"interruptibleNodeSelector"`
	Requirement  *corev1.NodeSelectorRequirement `json:"interruptibleNodeSelectorRequirement"`
}

func interruptible(pod *corev1.Pod, c *flyteCase) []string {
	var found []string
	for _, t := range pod.Spec.Tolerations {
		for _, want := range c.Tolerations {
			if t.MatchToleration(&want) {
				found = append(found, "toleration "+t.Key)
			}
		}
	}
	for k, v := range c.NodeSelector {
		if pod.Spec.NodeSelector[k] == v {
			found = append(found, "nodeSelector "+k)
		}
	}
	if r := c.Requirement; r != nil && pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil &&
		pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Key == r.Key && e.Operator == r.Operator && fmt.Sprint(e.Values) == fmt.Sprint(r.Values) {
					found = append(found, "affinity "+r.Key)
				}
			}
		}
	}
	return found
}

func TestFlyteAdmissionSparkApplications(t *testing.T) {
	dir := os.Getenv("FLYTE_ADMISSION_CASES")
	if dir == "" {
		t.Skip("FLYTE_ADMISSION_CASES not set")
	}
	// The sparkConf keys flyte-admission drops must be exactly the ones
	// this operator refuses.
	var managed []string
	data, err := os.ReadFile(filepath.Join(dir, "managed-conf.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &managed); err != nil {
		t.Fatal(err)
	}
	var denied []string
	for k := range deniedSparkConfKeys {
		denied = append(denied, k)
	}
	sort.Strings(managed)
	sort.Strings(denied)
	if fmt.Sprint(managed) != fmt.Sprint(denied) {
		t.Errorf("flyte-admission drops %v, spark-operator refuses %v", managed, denied)
	}

	files, err := filepath.Glob(filepath.Join(dir, "case-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked, interruptibleExecutors := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c flyteCase
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		app := &v1beta2.SparkApplication{}
		if err := json.Unmarshal(c.App, app); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		ctx := context.Background()
		if err := NewSparkApplicationDefaulter().Default(ctx, app); err != nil {
			t.Errorf("%s: defaulter: %v", c.Name, err)
		}
		if _, err := NewSparkApplicationValidator(nil, false).ValidateCreate(ctx, app); err != nil {
			t.Errorf("%s: REFUSED by spark-operator's validator: %v", c.Name, err)
		}
		for _, role := range []string{common.SparkRoleDriver, common.SparkRoleExecutor} {
			name := common.SparkDriverContainerName
			if role == common.SparkRoleExecutor {
				name = common.SparkExecutorContainerName
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: app.Name + "-" + role, Namespace: app.Namespace,
					Labels: map[string]string{common.LabelSparkRole: role, common.LabelLaunchedBySparkOperator: "true", common.LabelSparkAppName: app.Name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "spark"}}},
			}
			if err := mutateSparkPod(pod, app); err != nil {
				t.Errorf("%s: %s pod mutation: %v", c.Name, role, err)
				continue
			}
			found := interruptible(pod, &c)
			if role == common.SparkRoleDriver && len(found) > 0 {
				t.Errorf("%s: MISRUN: the driver pod lands on interruptible nodes: %v", c.Name, found)
			}
			if role == common.SparkRoleExecutor && len(found) > 0 {
				interruptibleExecutors++
			}
		}
		checked++
	}
	fmt.Printf("FLYTE-ADMISSION webhook checked=%d interruptible-executors=%d\n", checked, interruptibleExecutors)
}
