package sparkapplication

// Dropped into a temporary copy of spark-operator's module by
// flyte-admission's test/operators: builds the spark-submit arguments of
// flyte-admission's expansions (FLYTE_ADMISSION_CASES) with the operator's
// own builder, after its own defaulting. Not built as part of flyte-admission.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/kubeflow/spark-operator/v2/internal/webhook"
)

func TestFlyteAdmissionSparkSubmit(t *testing.T) {
	dir := os.Getenv("FLYTE_ADMISSION_CASES")
	if dir == "" {
		t.Skip("FLYTE_ADMISSION_CASES not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "case-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Name string          `json:"name"`
			App  json.RawMessage `json:"app"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		app := &v1beta2.SparkApplication{}
		if err := json.Unmarshal(c.App, app); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if err := webhook.NewSparkApplicationDefaulter().Default(context.Background(), app); err != nil {
			t.Errorf("%s: defaulter: %v", c.Name, err)
		}
		args, err := buildSparkSubmitArgs(app)
		if err != nil {
			t.Errorf("%s: REFUSED by the spark-submit argument builder: %v", c.Name, err)
			continue
		}
		// spark-submit's primary resource is the first argument that is
		// not an option: here, just before the application's arguments.
		i := len(args) - len(app.Spec.Arguments) - 1
		if app.Spec.MainApplicationFile == nil || *app.Spec.MainApplicationFile == "" || i < 0 || args[i] != *app.Spec.MainApplicationFile {
			t.Errorf("%s: MISRUN: spark-submit has no primary resource: %s", c.Name, strings.Join(args, " "))
		}
		for j := 0; j+1 < len(args); j++ {
			if args[j] == "--conf" && strings.HasPrefix(args[j+1], "spark.master=") {
				t.Errorf("%s: spark.master passed twice: %s", c.Name, args[j+1])
			}
		}
		checked++
	}
	fmt.Printf("FLYTE-ADMISSION spark-submit checked=%d\n", checked)
}
